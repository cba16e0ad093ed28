"""Rule introgression_embedding: Word2Vec k-mer vectors -> PCA -> UMAP, predictive k-mers highlighted."""

from popcen.introgression.steps import embedding_step
from popcen.rulerunner import run_rule


def main(smk, log):
    i, o, cfg = smk.input, smk.output, smk.params.cfg
    embedding_step(i.fasta, i.vocabulary, i.importances, cfg, cfg["top_kmers"], cfg["seed"], o.tsv, o.png)


run_rule(main, snakemake)
