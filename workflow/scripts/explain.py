from popcen.pipeline import explain, run_rule

run_rule(explain.explain, snakemake)
