from popcen.pipeline import genotypes, run_rule

run_rule(genotypes.variant_qc, snakemake)
