from popcen.pipeline import classification, run_rule

run_rule(classification.classification_folds, snakemake)
