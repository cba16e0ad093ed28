"""Figures of representation learning and clustering: loss curves, t-SNE maps, K sweep, cluster composition."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE


def plot_losses(tables: dict[str, pd.DataFrame], path, title: str = "Training losses") -> None:
    """One panel per model: train and validation loss per epoch (tables as written by ``fit``)."""
    fig, axes = plt.subplots(1, len(tables), figsize=(4.5 * len(tables), 3.5), squeeze=False)
    for ax, (name, table) in zip(axes[0], tables.items(), strict=True):
        ax.plot(table["epoch"], table["train_loss"], "o-", ms=3, label="train")
        if table["val_loss"].notna().any():
            ax.plot(table["epoch"], table["val_loss"], "s--", ms=3, label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def tsne_embedding(x: np.ndarray, seed: int, perplexity: float = 30.0, pca_first: int = 50) -> np.ndarray:
    """2-D t-SNE of the rows of x; wide inputs go through PCA(``pca_first``) first, as is customary.

    For the raw genotypes of a cohort pass their PCA scores with ``pca_first`` components
    (:func:`popcen.streaming.blocked_pca` streamed from the int8 store): they are not reduced again, and no
    float copy of the genotypes is made."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1] > pca_first:
        x = PCA(n_components=min(pca_first, *x.shape), random_state=seed).fit_transform(x)
    perplexity = min(perplexity, max(2.0, (len(x) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def _scatter(ax, xy, groups, title):
    groups = np.asarray(groups).astype(str)
    names = sorted(pd.unique(groups))
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    for i, name in enumerate(names):
        sel = groups == name
        ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=cmap(i % cmap.N), label=name, alpha=0.8, linewidths=0)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, markerscale=2, loc="best", ncol=2 if len(names) > 8 else 1)


def cluster_names(labels, clusters) -> dict:
    """Each cluster's name: its number and the label most of its samples carry (``c3 YRI``; ties go to the
    first label in sorted order). With K unequal to the number of labels two clusters may share a majority
    label and a label may lead no cluster; the number keeps the names distinct."""
    table = pd.crosstab(
        pd.Series(np.asarray(clusters), name="cluster"), pd.Series(np.asarray(labels), name="label")
    )
    return {c: f"c{c} {table.loc[c].idxmax()}" for c in table.index}


def plot_tsne(
    embeddings: dict[str, np.ndarray], labels, clusters, path, label_name: str = "label", k_note: str = ""
) -> None:
    """Rows: spaces (e.g. raw genotypes, CAE latent); columns: coloured by known label, by cluster (named by
    :func:`cluster_names`). ``k_note``, e.g. ``K = 5, the K sweep's choice``, goes into the cluster titles."""
    names = cluster_names(labels, clusters)
    suffix = f" ({k_note})" if k_note else ""
    fig, axes = plt.subplots(len(embeddings), 2, figsize=(10, 4.5 * len(embeddings)), squeeze=False)
    for row, (space, xy) in zip(axes, embeddings.items(), strict=True):
        _scatter(row[0], xy, labels, f"t-SNE of {space}: {label_name}")
        _scatter(row[1], xy, [names[c] for c in clusters], f"t-SNE of {space}: CEC cluster{suffix}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_k_sweep(table: pd.DataFrame, choice: dict, path) -> None:
    """WCSS (elbow), NMI and G = train/validation loss against K, the chosen K marked."""
    panels = [("wcss", "within-cluster sum of squares")]
    if table.get("nmi_kmeans") is not None and table["nmi_kmeans"].notna().any():
        panels.append(("nmi", "NMI with the first label column"))
    if "g" in table:
        panels.append(("g", "G = train loss / validation loss"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    for ax, (key, ylabel) in zip(axes[0], panels, strict=True):
        if key == "nmi":
            ax.plot(table["k"], table["nmi_kmeans"], "o-", label="k-means on latent")
            if "nmi_cec" in table:
                ax.plot(table["k"], table["nmi_cec"], "s-", label="CEC")
            ax.legend(fontsize=8)
        else:
            ax.plot(table["k"], table[key], "o-")
        ax.axvline(choice["k"], color="grey", ls=":", label="chosen K")
        ax.set_xlabel("K")
        ax.set_ylabel(ylabel)
    fig.suptitle(f"Choice of K: {choice['k']} ({choice['method']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def composition(labels, clusters) -> pd.DataFrame:
    """Share of each label (columns) in each cluster (rows); rows sum to 1."""
    table = pd.crosstab(
        pd.Series(np.asarray(clusters), name="cluster"), pd.Series(np.asarray(labels), name="label")
    )
    return table.div(table.sum(axis=1), axis=0)


def plot_composition(labels, clusters, path, label_name: str = "label", k_note: str = "") -> None:
    """Stacked bars: one per cluster (named by :func:`cluster_names`), the share of each population in it;
    cluster sizes on top; ``k_note`` (the K and where it came from) in the title."""
    shares = composition(labels, clusters)
    sizes = pd.Series(np.asarray(clusters)).value_counts().reindex(shares.index)
    names = cluster_names(labels, clusters)
    shares.index = [names[c] for c in shares.index]
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(shares) + 3), 4))
    shares.plot.bar(stacked=True, ax=ax, width=0.8, colormap="tab20" if shares.shape[1] > 10 else "tab10")
    for i, n in enumerate(sizes):
        ax.text(i, 1.01, str(n), ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("CEC cluster (its majority label)")
    if k_note:
        ax.set_title(f"CEC clusters: {k_note}", fontsize=9)
    ax.set_ylabel(f"share of each {label_name}")
    ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8, title=label_name)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cluster_colours(k: int) -> list:
    """K distinct colours, cluster j always the j-th (tab10 up to 10 clusters, then tab20, tab20b, tab20c):
    a cluster keeps its colour in every STRUCTURE plot drawn from the same CEC."""
    if k <= 10:
        return [plt.get_cmap("tab10")(j) for j in range(k)]
    pool = [plt.get_cmap(name)(j) for name in ("tab20", "tab20b", "tab20c") for j in range(20)]
    return [pool[j % len(pool)] for j in range(k)]


def plot_structure(
    q: pd.DataFrame,
    order,
    spans,
    path,
    title: str = "",
    group_name: str = "population",
    legend_title: str = "CEC cluster",
) -> None:
    """The STRUCTURE plot: one stacked bar per sample (its Q row: the share of each cluster, coloured by
    :func:`cluster_colours` in column order), samples in ``order``, the groups of ``spans``
    (``(name, first, stop)`` in plot positions, from :func:`popcen.admixture.structure_order`) separated by
    white lines and named along the x axis; the clusters in the legend.

    Parameters
    ----------
    q : the Q table without its sample column: (samples, clusters), the columns the cluster names
    """
    values = q.to_numpy(dtype=np.float64)[np.asarray(order)]
    n, k = values.shape
    colours = cluster_colours(k)
    fig, ax = plt.subplots(figsize=(min(max(6.0, 0.03 * n + 3.0), 24.0), 3.6))
    x = np.arange(n)
    bottom = np.zeros(n)
    for j, name in enumerate(q.columns):
        ax.bar(x, values[:, j], bottom=bottom, width=1.0, color=colours[j], linewidth=0, label=str(name))
        bottom += values[:, j]
    for _, first, _ in spans[1:]:
        ax.axvline(first - 0.5, color="white", lw=1.2)
    ax.set_xticks([(first + stop - 1) / 2 for _, first, stop in spans])
    ax.set_xticklabels(
        [str(g) for g, _, _ in spans],
        rotation=90 if len(spans) > 8 else 0,
        fontsize=7 if len(spans) > 8 else 8,
    )
    ax.tick_params(axis="x", length=0)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(0, 1)
    ax.set_ylabel("ancestry proportion (Q)")
    ax.set_xlabel(group_name)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(
        bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=7, title=legend_title, ncol=2 if k > 12 else 1
    )
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")  # a long title or legend stays inside the image
    plt.close(fig)
