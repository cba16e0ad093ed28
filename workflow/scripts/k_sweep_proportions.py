from popcen.pipeline import clustering, run_rule

run_rule(clustering.k_sweep_proportions, snakemake)
