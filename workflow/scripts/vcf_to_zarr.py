from popcen.pipeline import genotypes, run_rule

run_rule(genotypes.vcf_to_zarr, snakemake)
