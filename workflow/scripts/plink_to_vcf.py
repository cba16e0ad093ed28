from popcen.pipeline import genotypes, run_rule

run_rule(genotypes.plink_to_vcf, snakemake)
