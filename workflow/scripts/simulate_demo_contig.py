from popcen.pipeline import demo, run_rule

run_rule(demo.simulate_demo_contig, snakemake)
