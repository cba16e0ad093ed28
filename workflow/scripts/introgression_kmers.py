"""Rule introgression_kmers: sparse k-mer count matrix, the saved vocabulary, top k-mers per class."""

from popcen.introgression.steps import kmers_step
from popcen.rulerunner import run_rule


def main(smk, log):
    i, o, cfg = smk.input, smk.output, smk.params.cfg
    kmers_step(i.fasta, i.tsv, cfg["k"], cfg["canonical"], cfg["top_kmers"], o.matrix, o.vocabulary, o.top,
               o.top_png)


run_rule(main, snakemake)
