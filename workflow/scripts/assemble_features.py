from popcen.pipeline import genotypes, run_rule

run_rule(genotypes.assemble_features, snakemake)
