from popcen.pipeline import clustering, run_rule

run_rule(clustering.admixture_proportions, snakemake)
