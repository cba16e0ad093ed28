"""Rule introgression_models: k-mer classifiers, GC baseline and MLP on a chromosome/locus hold-out."""

from popcen.introgression.steps import models_step
from popcen.rulerunner import run_rule


def main(smk, log):
    i = smk.input
    out = {name: smk.output[name] for name in smk.output.keys()}
    out["checkpoints"] = smk.params.checkpoints
    models_step(i.matrix, i.vocabulary, i.tsv, smk.params.cfg, smk.params.cfg["seed"], smk.params.device,
                smk.threads, out)


run_rule(main, snakemake)
