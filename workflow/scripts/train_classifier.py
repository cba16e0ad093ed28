from popcen.pipeline import classification, run_rule

run_rule(classification.train_classifier, snakemake)
