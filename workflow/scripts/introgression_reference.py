from popcen.pipeline import introgression, run_rule

run_rule(introgression.introgression_reference, snakemake)
