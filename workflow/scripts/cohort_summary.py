from popcen.pipeline import report, run_rule

run_rule(report.cohort_summary, snakemake)
