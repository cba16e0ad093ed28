from popcen.pipeline import clustering, run_rule

run_rule(clustering.train_cec, snakemake)
