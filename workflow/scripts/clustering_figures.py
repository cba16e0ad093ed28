"""Rule clustering_figures: loss curves, t-SNE of raw genotypes and latent features, cluster composition."""

from popcen.clustering.figures import clustering_figures
from popcen.rulerunner import run_rule


def main(smk, log):
    clustering_figures(
        smk.params.features,
        smk.input.latent,
        smk.input.assignments,
        smk.input.cae_losses,
        smk.input.cec_losses,
        dict(smk.output),
        smk.wildcards.level,
        smk.params.seed,
        smk.params.perplexity,
    )


run_rule(main, snakemake)
