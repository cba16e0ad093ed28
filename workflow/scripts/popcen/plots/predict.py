"""Figures of a predicted cohort: its samples over the model cohort's reference samples in the CAE latent
space, projected to 2-D by a PCA fitted on the reference."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA

UNASSIGNED, OUTLIER = "unassigned", "outlier"
REFERENCE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
REFERENCE_SHADES = ("0.78", "0.62", "0.46", "0.30")


def reference_projection(reference_latent: np.ndarray, new_latent: np.ndarray):
    """Both sets of latent vectors on the first two principal axes of the reference's.

    The PCA is fitted on the reference samples only and applied to the new ones. The encoder that gave the
    new samples' latent vectors is a fixed function fitted without them, so nothing shrinks them toward the
    origin (the projection shrinkage that PCA on genotypes corrects with OADP): the new samples sit where
    the reference would sit if they were in it.

    Returns
    -------
    reference_xy (n_ref, 2), new_xy (n_new, 2), explained (2,) share of the reference's variance per axis
    """
    reference_latent = np.asarray(reference_latent, dtype=np.float64)
    new_latent = np.asarray(new_latent, dtype=np.float64)
    if reference_latent.shape[1] != new_latent.shape[1]:
        raise ValueError(
            f"latent widths differ: reference {reference_latent.shape[1]}, new {new_latent.shape[1]}"
        )
    n_axes = min(2, *reference_latent.shape)
    pca = PCA(n_components=n_axes, svd_solver="full").fit(reference_latent)
    ref_xy, new_xy = pca.transform(reference_latent), pca.transform(new_latent)
    explained = pca.explained_variance_ratio_
    if n_axes < 2:  # a one-dimensional latent space (or a single reference sample): a flat second axis
        pad = 2 - n_axes
        ref_xy = np.pad(ref_xy, ((0, 0), (0, pad)))
        new_xy = np.pad(new_xy, ((0, 0), (0, pad)))
        explained = np.pad(explained, (0, pad))
    return ref_xy, new_xy, explained


def call_categories(calls, outlier=None) -> np.ndarray:
    """Each new sample's category in the figure: ``outlier`` where flagged, else its call (a population or
    ``unassigned``)."""
    calls = np.asarray(calls).astype(str)
    if outlier is None:
        return calls
    return np.where(np.asarray(outlier, dtype=bool), OUTLIER, calls)


def population_colours(labels) -> dict:
    """A colour per population label (sorted; tab10 up to 10, else tab20 and tab20b), the same for a
    label wherever it is drawn."""
    names = sorted(set(map(str, labels)))
    pool = (
        [plt.get_cmap("tab10")(j) for j in range(10)]
        if len(names) <= 10
        else [plt.get_cmap(c)(j) for c in ("tab20", "tab20b") for j in range(20)]
    )
    return {name: pool[i % len(pool)] for i, name in enumerate(names)}


def plot_over_reference(
    reference_xy: np.ndarray,
    reference_labels,
    new_xy: np.ndarray,
    categories,
    path,
    explained=None,
    title: str = "",
    label_name: str = "population",
) -> None:
    """The reference samples in shades of grey with a marker per population, the new samples on top coloured
    by their category (:func:`call_categories`: each called population its colour, ``unassigned`` black
    crosses, ``outlier`` magenta stars); the new samples' legend (with counts) right of the axes, the
    reference's under them."""
    reference_labels = np.asarray(reference_labels).astype(str)
    categories = np.asarray(categories).astype(str)
    pops = sorted(set(reference_labels))
    colours = population_colours(set(pops) | (set(categories) - {UNASSIGNED, OUTLIER}))
    fig, ax = plt.subplots(figsize=(9.5, 6.0))
    ref_handles = []
    for i, pop in enumerate(pops):
        style = dict(
            marker=REFERENCE_MARKERS[(i // len(REFERENCE_SHADES)) % len(REFERENCE_MARKERS)],
            color=REFERENCE_SHADES[i % len(REFERENCE_SHADES)],
        )
        sel = reference_labels == pop
        ax.scatter(reference_xy[sel, 0], reference_xy[sel, 1], s=14, linewidths=0, alpha=0.8, **style)
        ref_handles.append(Line2D([], [], linestyle="", markersize=5, label=pop, **style))
    new_handles = []
    order = [c for c in sorted(set(categories)) if c not in (UNASSIGNED, OUTLIER)]
    order += [c for c in (UNASSIGNED, OUTLIER) if c in set(categories)]
    for cat in order:
        sel = categories == cat
        if cat == UNASSIGNED:
            style = dict(marker="x", color="black", s=30, linewidths=1.2)
        elif cat == OUTLIER:
            style = dict(marker="*", color="#e6007e", s=70, edgecolors="black", linewidths=0.4)
        else:
            style = dict(marker="o", color=colours[cat], s=30, edgecolors="black", linewidths=0.5)
        ax.scatter(new_xy[sel, 0], new_xy[sel, 1], zorder=3, **style)
        handle_style = {
            "marker": style["marker"],
            "color": style["color"],
            "markeredgecolor": style.get("edgecolors", style["color"]),
        }
        new_handles.append(
            Line2D([], [], linestyle="", markersize=7, label=f"{cat} ({int(sel.sum())})", **handle_style)
        )
    if explained is not None:
        ax.set_xlabel(f"PC1 of the reference latent ({explained[0]:.0%} of its variance)")
        ax.set_ylabel(f"PC2 ({explained[1]:.0%})")
    else:
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
    # the new samples' calls right of the axes, the reference populations under them (no overlap however
    # many populations)
    first = ax.legend(
        handles=new_handles,
        title="new samples: call",
        bbox_to_anchor=(1.02, 1),
        loc="upper left",
        fontsize=7,
        title_fontsize=8,
    )
    ax.add_artist(first)
    second = ax.legend(
        handles=ref_handles,
        title=f"reference {label_name}",
        bbox_to_anchor=(0.5, -0.12),
        loc="upper center",
        fontsize=7,
        title_fontsize=8,
        ncol=min(len(pops), 9),
    )
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight", bbox_extra_artists=[first, second])
    plt.close(fig)
