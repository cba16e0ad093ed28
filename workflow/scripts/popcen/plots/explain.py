"""Figures of the SHAP explanations of the LightGBM model: a beeswarm and one sample's waterfall."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def own_class_explanation(values, expected, x, y, names):
    """A single-output ``shap.Explanation``: for each sample, the SHAP values of its own population's output
    (what pushes a sample towards its true population); the beeswarm's input."""
    import shap

    rows = np.arange(len(y))
    return shap.Explanation(values=values[rows, :, y], base_values=expected[y], data=x, feature_names=names)


def plot_beeswarm(values, expected, x, y, names, path, max_display: int = 15) -> None:
    """Beeswarm of the SHAP values towards each sample's own population (``y``: its class index)."""
    import shap

    plt.figure()
    shap.plots.beeswarm(
        own_class_explanation(values, expected, x, y, names), max_display=max_display, show=False
    )
    fig = plt.gcf()
    fig.suptitle("SHAP values towards each sample's own population (LightGBM)", fontsize=10)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_waterfall(
    values, expected, x, names, sample_index: int, class_index: int, title: str, path, max_display: int = 15
) -> None:
    """Waterfall of one sample's SHAP values for one population's output (log-odds)."""
    import shap

    exp = shap.Explanation(
        values=values[sample_index, :, class_index],
        base_values=expected[class_index],
        data=x[sample_index],
        feature_names=names,
    )
    plt.figure()
    shap.plots.waterfall(exp, max_display=max_display, show=False)
    fig = plt.gcf()
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
