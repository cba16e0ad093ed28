"""Rule cluster_baselines: CEC and the baselines on the same samples, scored against one label level."""

from popcen.clustering.stages import run_cluster_baselines
from popcen.rulerunner import run_rule


def main(smk, log):
    run_cluster_baselines(
        smk.params.features,
        smk.input.latent,
        smk.input.assignments,
        smk.input.cec_json,
        smk.input.cae_json,
        dict(smk.output),
        smk.wildcards.level,
        smk.params.clustering,
        smk.params.seed,
    )


run_rule(main, snakemake)
