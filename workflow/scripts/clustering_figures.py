from popcen.pipeline import clustering, run_rule

run_rule(clustering.clustering_figures, snakemake)
