"""Figures of the SHAP explanations of the LightGBM model: a beeswarm and one sample's waterfall."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def own_class_explanation(own, base_values, x, names):
    """A single-output ``shap.Explanation`` of some samples: for each, the SHAP values of its own
    population's output (what pushes a sample towards its true population); the beeswarm's input.

    own : (n, n_features) SHAP values of each sample's own class; base_values : (n,) that class's expected
    value; x : (n, n_features) the samples' inputs (the dots' colours)
    """
    import shap

    return shap.Explanation(values=own, base_values=np.asarray(base_values), data=x, feature_names=names)


def plot_beeswarm(own, base_values, x, names, path, max_display: int = 15) -> None:
    """Beeswarm of the SHAP values towards each sample's own population (see :func:`own_class_explanation`);
    the samples shown may be a bounded subset of the cohort (``explain.beeswarm_samples``)."""
    import shap

    plt.figure()
    shap.plots.beeswarm(
        own_class_explanation(own, base_values, x, names), max_display=max_display, show=False
    )
    fig = plt.gcf()
    fig.suptitle(
        f"SHAP values towards each sample's own population (LightGBM, {len(own)} samples)", fontsize=10
    )
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_waterfall(values, base_value: float, x_row, names, title: str, path, max_display: int = 15) -> None:
    """Waterfall of one sample's SHAP values (n_features,) for one population's output (log-odds), from that
    output's expected value ``base_value``; ``x_row`` holds the sample's inputs."""
    import shap

    exp = shap.Explanation(values=values, base_values=float(base_value), data=x_row, feature_names=names)
    plt.figure()
    shap.plots.waterfall(exp, max_display=max_display, show=False)
    fig = plt.gcf()
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
