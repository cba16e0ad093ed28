from popcen.pipeline import clustering, run_rule

run_rule(clustering.cluster_baselines, snakemake)
