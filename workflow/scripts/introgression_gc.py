"""Rule introgression_gc: GC content of introgressed regions, controls, genes and the genome."""

from popcen.introgression.steps import gc_step
from popcen.rulerunner import run_rule


def main(smk, log):
    i, o = smk.input, smk.output
    gc_step(i.sequences, i.genes, i.composition, o.tsv, o.png)


run_rule(main, snakemake)
