from popcen.pipeline import classification, run_rule

run_rule(classification.reference_distances, snakemake)
