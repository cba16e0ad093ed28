"""Rule introgression_demo_inputs: synthetic reference, map and gene table (no biological signal)."""

from popcen.introgression.steps import make_demo_inputs
from popcen.rulerunner import run_rule


def main(smk, log):
    make_demo_inputs(smk.params.synthetic, smk.params.seed, smk.output.fasta, smk.output.map, smk.output.genes)


run_rule(main, snakemake)
