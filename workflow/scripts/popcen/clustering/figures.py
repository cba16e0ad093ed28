"""File-level step of rule clustering_figures (the plotting itself is in popcen.plots.clustering)."""

from __future__ import annotations

import pandas as pd

from popcen.clustering.stages import read_latent
from popcen.features import load_features
from popcen.images import scale_genotypes
from popcen.plots.clustering import plot_composition, plot_losses, plot_tsne, tsne_embedding


def clustering_figures(
    features,
    latent_tsv,
    assignments_tsv,
    cae_losses,
    cec_losses,
    out: dict,
    level: str,
    seed: int,
    perplexity: float,
) -> None:
    gn, _, samples = load_features(features)
    latent = read_latent(latent_tsv, samples)
    assignments = pd.read_csv(assignments_tsv, sep="\t", dtype={"sample": str, level: str})
    labels, clusters = assignments[level].to_numpy(), assignments["cluster"].to_numpy()
    k = sum(c.startswith("q") for c in assignments.columns)
    plot_losses(
        {
            "CAE (reconstruction MSE)": pd.read_csv(cae_losses, sep="\t"),
            f"CEC, K = {k} (σ·KL + (1−σ)·MSE)": pd.read_csv(cec_losses, sep="\t"),
        },
        out["losses"],
        title="Training and validation losses",
    )
    embeddings = {
        "raw genotypes": tsne_embedding(scale_genotypes(gn), seed, perplexity),
        "CAE latent features": tsne_embedding(latent, seed, perplexity),
    }
    plot_tsne(embeddings, labels, clusters, out["tsne"], label_name=level)
    plot_composition(labels, clusters, out["composition"], label_name=level)
