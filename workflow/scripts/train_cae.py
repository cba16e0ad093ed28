"""Rule train_cae: the convolutional autoencoder of a cohort's genotype images, and its latent features."""

from popcen.clustering.stages import run_train_cae, set_threads
from popcen.rulerunner import run_rule


def main(smk, log):
    set_threads(smk.threads)
    run_train_cae(
        smk.params.features,
        dict(smk.output),
        smk.params.training,
        smk.params.representation,
        smk.params.label_columns,
        smk.params.device,
        smk.params.checkpoint_dir,
    )


run_rule(main, snakemake)
