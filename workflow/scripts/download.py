from popcen.pipeline import downloads, run_rule

run_rule(downloads.download, snakemake)
