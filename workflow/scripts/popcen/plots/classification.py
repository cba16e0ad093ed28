"""Figures of the ancestry classifier: confusion matrices, ROC curves, per-population F1."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def plot_confusion(counts: pd.DataFrame, normalized: pd.DataFrame, title: str, path) -> None:
    """Counts (left) and row-normalised (right, the diagonal is each class's recall) side by side."""
    n = len(counts)
    size = max(4.0, 0.45 * n + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    for ax, table, fmt, name in (
        (axes[0], counts, "d", "counts"),
        (axes[1], normalized, ".2f", "row-normalised"),
    ):
        values = table.to_numpy()
        im = ax.imshow(values, cmap="Blues", vmin=0, vmax=values.max() if name == "counts" else 1)
        ax.set_xticks(range(n), table.columns, rotation=90)
        ax.set_yticks(range(n), table.index)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
        limit = values.max() / 2 if values.max() else 0.5
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    format(values[i, j], fmt),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if values[i, j] > limit else "black",
                )
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_roc(curves: pd.DataFrame, aucs: pd.DataFrame, title: str, path) -> None:
    """One-vs-rest ROC: one panel per class, one line per fold; the legend gives the fold's AUC."""
    labels = list(dict.fromkeys(aucs["label"]))
    cols = min(4, len(labels))
    rows = int(np.ceil(len(labels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, label in zip(axes.flat, labels, strict=False):
        for fold, part in curves[curves["label"] == label].groupby("fold"):
            a = aucs[(aucs["label"] == label) & (aucs["fold"] == fold)]["auc"].iloc[0]
            ax.plot(part["fpr"], part["tpr"], lw=1, label=f"fold {fold}: {a:.3f}")
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        mean_auc = aucs[aucs["label"] == label]["auc"].mean()
        ax.set_title(f"{label} (mean AUC {mean_auc:.3f})", fontsize=9)
        ax.set_xlabel("false positive rate", fontsize=8)
        ax.set_ylabel("true positive rate", fontsize=8)
        ax.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[len(labels) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_f1_bars(per_class: dict[str, pd.DataFrame], title: str, path) -> None:
    """Per-class F1 of one or more models (``{model: per_class table}``), grouped bars."""
    models = list(per_class)
    labels = list(per_class[models[0]]["label"])
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(labels) * len(models) + 2), 3.8))
    x = np.arange(len(labels))
    for k, model in enumerate(models):
        f1 = per_class[model].set_index("label").loc[labels, "f1"].to_numpy()
        ax.bar(x + (k - (len(models) - 1) / 2) * width, f1, width, label=model)
    ax.set_xticks(x, labels, rotation=45 if len(labels) > 6 else 0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 (out-of-fold)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_reliability(before: pd.DataFrame, after: pd.DataFrame, temperature: float, title: str, path) -> None:
    """Reliability diagram: binned top probability against accuracy (:func:`popcen.classification.calibration.
    reliability_table`) before and after temperature scaling, over a histogram of the samples per bin."""
    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(5.0, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="perfectly calibrated")
    width = float((before["upper"] - before["lower"]).iloc[0])
    for table, name, style in ((before, "raw", "o-"), (after, f"calibrated (T = {temperature:.2f})", "s-")):
        used = table[table["n"] > 0]
        ax.plot(used["confidence"], used["accuracy"], style, lw=1.2, ms=4, label=name)
        centres = (table["lower"] + table["upper"]) / 2
        offset = -width / 4 if name == "raw" else width / 4
        hist.bar(centres + offset, table["n"], width=width / 2, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (top label = true label)")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=10)
    hist.set_xlabel("top probability (bin)")
    hist.set_ylabel("samples")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
