"""Rule train_cec: deep embedded clustering from the cohort's CAE, K = number of labels of the level."""

from popcen.clustering.stages import run_train_cec, set_threads
from popcen.rulerunner import run_rule


def main(smk, log):
    set_threads(smk.threads)
    run_train_cec(
        smk.params.features,
        smk.input.cae_weights,
        smk.input.cae_json,
        dict(smk.output),
        smk.wildcards.level,
        smk.params.training,
        smk.params.clustering,
        smk.params.device,
        smk.params.checkpoint_dir,
    )


run_rule(main, snakemake)
