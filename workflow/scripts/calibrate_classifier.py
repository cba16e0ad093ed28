from popcen.pipeline import classification, run_rule

run_rule(classification.calibrate_classifier, snakemake)
