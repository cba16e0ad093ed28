"""Rule introgression_reference: contig sizes, assembly gaps (N runs) and base composition of the FASTA."""

from popcen.introgression.steps import scan_reference_step
from popcen.rulerunner import run_rule


def main(smk, log):
    scan_reference_step(smk.input.fasta, smk.output.genome, smk.output.gaps, smk.output.composition)


run_rule(main, snakemake)
