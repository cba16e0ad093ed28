"""Rule vcf_to_zarr: one cohort × contig VCF -> scikit-allel Zarr store."""

from popcen.rulerunner import run_rule
from popcen.vcf import vcf_to_zarr


def main(smk, log):
    header = vcf_to_zarr(smk.input.vcf, smk.output.zarr, region=smk.params.region, threads=smk.threads)
    log.info("%s -> %s (%d samples, %s)", smk.input.vcf, smk.output.zarr, len(header.samples),
             "BGZF" if header.bgzf else "plain gzip/text")


run_rule(main, snakemake)
