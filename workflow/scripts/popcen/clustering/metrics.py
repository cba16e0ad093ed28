"""Scores of a clustering against known labels: ARI, NMI, ACC (Hungarian matching), homogeneity, completeness."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn import metrics

METRICS = ("ARI", "NMI", "ACC", "homogeneity", "completeness")


def contingency(y_true, y_pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of each (cluster, label) pair.

    Returns
    -------
    table : (n_clusters, n_labels) int array
    clusters, labels : the sorted distinct values that index its rows and columns
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} cluster assignments")
    labels, t = np.unique(y_true, return_inverse=True)
    clusters, c = np.unique(y_pred, return_inverse=True)
    table = np.zeros((len(clusters), len(labels)), dtype=np.int64)
    np.add.at(table, (c, t), 1)
    return table, clusters, labels


def cluster_accuracy(y_true, y_pred) -> float:
    """Unsupervised accuracy: the share of samples whose cluster maps to their label under the best
    one-to-one matching of clusters to labels (Hungarian algorithm). With more clusters than labels the
    unmatched clusters count as errors, and vice versa."""
    table, _, _ = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def score_clustering(y_true, y_pred) -> dict[str, float]:
    """ARI, NMI (arithmetic mean normalisation, scikit-learn's default), ACC, homogeneity, completeness."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "ARI": float(metrics.adjusted_rand_score(y_true, y_pred)),
        "NMI": float(metrics.normalized_mutual_info_score(y_true, y_pred)),
        "ACC": cluster_accuracy(y_true, y_pred),
        "homogeneity": float(metrics.homogeneity_score(y_true, y_pred)),
        "completeness": float(metrics.completeness_score(y_true, y_pred)),
    }


def score_methods(
    labels, results, level: str, k: int | None = None, k_source: str = "labels"
) -> pd.DataFrame:
    """Several clusterings of the same samples side by side, scored against one label level.

    Parameters
    ----------
    labels : (n,) known labels of the level
    results : clusterings with ``method, space, labels, seconds, note`` (e.g.
        :class:`popcen.clustering.baselines.BaselineResult`), in the order of the rows
    level : the label column's name
    k : the K the methods that take one were run at; default the number of labels
    k_source : where K came from: ``labels``, ``sweep`` (the K sweep's choice) or ``config`` (a number)

    Returns
    -------
    one row per clustering: level, k, k_source, n_labels, method, space, ARI, NMI, ACC, homogeneity,
    completeness, clusters_found, seconds, note
    """
    n_labels = len(np.unique(labels))
    rows = [
        {
            "level": level,
            "k": n_labels if k is None else int(k),
            "k_source": k_source,
            "n_labels": n_labels,
            "method": r.method,
            "space": r.space,
            **score_clustering(labels, r.labels),
            "clusters_found": len(np.unique(r.labels)),
            "seconds": r.seconds,
            "note": r.note,
        }
        for r in results
    ]
    return pd.DataFrame(rows)
