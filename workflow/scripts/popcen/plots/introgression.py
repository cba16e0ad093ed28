"""Figures of the introgression analysis."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_region_lengths(regions: pd.DataFrame, path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(np.log10(regions["length"]), bins=40, color="tab:purple")
    ax.set_xlabel("log10 length of introgressed interval (bp)")
    ax.set_ylabel("intervals")
    ax.set_title(f"{len(regions)} unique introgressed intervals")
    _save(fig, path)


def plot_top_kmers(table: pd.DataFrame, path) -> None:
    labels = sorted(table["label"].unique())
    fig, axes = plt.subplots(1, len(labels), figsize=(5 * len(labels), 5), squeeze=False)
    for ax, label in zip(axes[0], labels, strict=True):
        sub = table[table["label"] == label].sort_values("rank", ascending=False)
        ax.barh(sub["kmer"], sub["mean_frequency"], color="tab:red" if label == 1 else "tab:blue")
        ax.set_title("introgressed" if label == 1 else "control")
        ax.set_xlabel("mean k-mer frequency")
    _save(fig, path)


def plot_model_performance(
    y_test: np.ndarray, scores: pd.DataFrame, metrics: pd.DataFrame, confusion: pd.DataFrame, path
) -> None:
    """ROC curves of every model and their confusion matrices on the held-out sequences."""
    names = list(scores.columns)
    ncols = 4
    nrows = -(-(1 + len(names)) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.8 * nrows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[1 + len(names) :]:
        ax.axis("off")
    ax = axes[0]
    for name in names:
        if len(np.unique(y_test)) == 2:
            fpr, tpr, _ = roc_curve(y_test, scores[name])
            auc = metrics.set_index("model").loc[name, "roc_auc"]
            ax.plot(fpr, tpr, label=f"{name} ({auc:.2f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7)
    for ax, name in zip(axes[1 : 1 + len(names)], names, strict=True):
        cm = confusion[confusion["model"] == name].pivot(index="true", columns="predicted", values="count")
        ax.imshow(cm.to_numpy(), cmap="Blues")
        for (i, j), v in np.ndenumerate(cm.to_numpy()):
            ax.text(j, i, str(v), ha="center", va="center")
        ax.set_xticks([0, 1], ["control", "introgr."])
        ax.set_yticks([0, 1], ["control", "introgr."])
        acc = metrics.set_index("model").loc[name, "accuracy"]
        ax.set_title(f"{name}\naccuracy {acc:.2f}", fontsize=9)
    _save(fig, path)


def plot_importances(table: pd.DataFrame, n: int, path) -> None:
    top = table.head(n).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, max(3, 0.25 * n)))
    ax.barh(top["kmer"], top["importance_mean"], xerr=top["importance_sd"], color="tab:green", ecolor="grey")
    ax.set_xlabel("random forest importance (mean ± sd across trees)")
    _save(fig, path)


def plot_embedding(coords: pd.DataFrame, highlight: list[str], path) -> None:
    """The k-mer map twice, side by side: UMAP and t-SNE of the same principal components."""
    hi = coords["kmer"].isin(highlight)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, (method, x, y) in zip(
        axes, (("UMAP", "umap1", "umap2"), ("t-SNE", "tsne1", "tsne2")), strict=True
    ):
        ax.scatter(coords.loc[~hi, x], coords.loc[~hi, y], s=6, color="lightgrey", label="k-mers")
        ax.scatter(
            coords.loc[hi, x],
            coords.loc[hi, y],
            s=18,
            color="tab:red",
            label="most predictive (random forest)",
        )
        for _, r in coords[hi].iterrows():
            ax.annotate(r["kmer"], (r[x], r[y]), fontsize=6)
        ax.set_xlabel(f"{method} 1")
        ax.set_ylabel(f"{method} 2")
        ax.set_title(method, fontsize=9)
        ax.legend(fontsize=7)
    _save(fig, path)


def plot_gc_content(groups: dict[str, np.ndarray], genome_gc: float, path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, gc in groups.items():
        gc = np.asarray(gc, float)
        ax.hist(gc[~np.isnan(gc)], bins=40, histtype="step", density=True, label=f"{name} (n={len(gc)})")
    ax.axvline(genome_gc, color="black", ls="--", label=f"genome {genome_gc:.3f}")
    ax.set_xlabel("GC fraction")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_permutation(null: np.ndarray, observed: int, tests: dict, path) -> None:
    """Histogram of the null's gene-overlap counts, the observed count, and a title naming the direction
    with both one-sided p-values and the two-sided p (``tests``: see ``permutation.tail_p_values``)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(null, bins=min(50, max(5, len(np.unique(null)))), color="lightgrey", edgecolor="grey")
    ax.axvline(observed, color="tab:red", label=f"introgressed: {observed} genes")
    ax.axvline(np.mean(null), color="black", ls="--", label=f"null mean: {np.mean(null):.1f} genes")
    ax.set_title(
        f"direction: {tests['direction']}; two-sided p = {tests['p_two_sided']:.3g}\n"
        f"p(depletion) = {tests['p_depletion']:.3g}, p(enrichment) = {tests['p_enrichment']:.3g}",
        fontsize=9,
    )
    ax.set_xlabel(f"genes overlapped by a shuffled set ({len(null)} sets)")
    ax.set_ylabel("sets")
    ax.legend(fontsize=8)
    _save(fig, path)
