from popcen.pipeline import demo, run_rule

run_rule(demo.demo_panel, snakemake)
