"""Rule k_sweep: WCSS (elbow), NMI and G against K; the K picked and why; the figure."""

import json

import pandas as pd

from popcen.clustering.stages import run_k_sweep, set_threads
from popcen.plots.clustering import plot_k_sweep
from popcen.rulerunner import run_rule


def main(smk, log):
    set_threads(smk.threads)
    out = dict(smk.output)
    run_k_sweep(
        smk.params.features,
        smk.input.latent,
        smk.input.cae_weights,
        smk.input.cae_json,
        out,
        smk.params.label_columns,
        smk.params.training,
        smk.params.clustering,
        smk.params.device,
    )
    plot_k_sweep(pd.read_csv(out["table"], sep="\t"), json.loads(open(out["choice"]).read()), out["plot"])


run_rule(main, snakemake)
