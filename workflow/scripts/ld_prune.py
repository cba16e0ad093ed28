from popcen.pipeline import genotypes, run_rule

run_rule(genotypes.ld_prune, snakemake)
