from popcen.pipeline import classification, run_rule

run_rule(classification.evaluate_classifier, snakemake)
