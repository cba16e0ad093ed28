"""Rule classification_folds: the stratified folds every classifier of the cohort is evaluated on."""

from popcen.classification.tables import make_folds
from popcen.features import load_features
from popcen.rulerunner import run_rule


def main(smk, log):
    _, _, samples = load_features(smk.params.features)
    folds = make_folds(samples, smk.params.label_column, smk.params.n_folds, smk.params.seed, smk.input.samples)
    folds.to_csv(smk.output.folds, sep="\t", index=False)
    log.info("%d samples in %d folds stratified by %s", len(folds), smk.params.n_folds, smk.params.label_column)


run_rule(main, snakemake)
