from popcen.pipeline import representation, run_rule

run_rule(representation.train_cae, snakemake)
