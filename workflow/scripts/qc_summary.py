from popcen.pipeline import genotypes, run_rule

run_rule(genotypes.qc_summary, snakemake)
