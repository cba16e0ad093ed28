"""Rule introgression_genes: genes scored by the trained model on the saved training vocabulary."""

from popcen.introgression.steps import genes_step
from popcen.rulerunner import run_rule


def main(smk, log):
    i, o = smk.input, smk.output
    genes_step(i.fasta, i.genes, i.genome, i.vocabulary, i.model, smk.params.gene_len, o.tsv, o.counts)


run_rule(main, snakemake)
