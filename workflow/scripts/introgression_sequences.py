"""Rule introgression_sequences: region and control sequences, truncated, pairs with N dropped."""

from popcen.introgression.steps import sequences_step
from popcen.rulerunner import run_rule


def main(smk, log):
    i, o = smk.input, smk.output
    sequences_step(i.fasta, i.regions, i.controls, smk.params.max_len, o.fasta, o.tsv, o.counts)


run_rule(main, snakemake)
