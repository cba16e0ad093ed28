"""Choice of the number of clusters K: elbow of the within-cluster sum of squares, NMI and G per K.

For each K from 2 to ``k_max``: k-means on the CAE latent features gives the within-cluster sum of squares
(WCSS) and, where labels exist, the NMI of its clusters; a short CEC training from the same CAE gives
G = train loss / validation loss (close to 1: the clustering generalises to held-out samples; well below
1: it fits the training samples only) and the NMI of its clusters. K is picked at the elbow of the WCSS
curve (the point farthest from the chord joining its ends), which needs no labels.

The sweep also gives each K's soft assignments q (samples x K), for a Q matrix at the chosen K: the short
CEC's q, or without CEC runs DEC's Student-t kernel (one degree of freedom) on the k-means centroids.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from tqdm.auto import tqdm

from popcen.clustering.baselines import knee
from popcen.models.cec import soft_assignment

log = logging.getLogger("popcen")


def kmeans(latent: np.ndarray, k: int, seed: int, n_init: int = 10) -> KMeans:
    """k-means with ``k`` clusters, fitted: its ``inertia_`` is the within-cluster sum of squares (WCSS)."""
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(latent)


def kmeans_q(latent: np.ndarray, centroids: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Soft assignments (n, K) of the latent features to k-means centroids: the Student-t kernel CEC uses
    (:func:`popcen.models.cec.soft_assignment`, ``alpha`` = 1 as in DEC); rows sum to one."""
    q = soft_assignment(torch.as_tensor(latent), torch.as_tensor(centroids), alpha)
    return q.double().numpy()


def elbow(ks, values) -> int:
    """K at the elbow of a decreasing WCSS curve (farthest point from the chord)."""
    ks, values = np.asarray(ks), np.asarray(values, dtype=float)
    return int(ks[knee(-values)])


def k_sweep(
    latent: np.ndarray,
    k_values,
    seed: int,
    labels=None,
    cec_fn=None,
    progress: bool = True,
    soft: dict | None = None,
) -> pd.DataFrame:
    """One row per K: k, wcss, nmi_kmeans, and with ``cec_fn`` g, train_loss, val_loss, nmi_cec.

    Parameters
    ----------
    latent : (n, d) CAE latent features
    k_values : iterable of K
    seed : int
    labels : (n,) known labels, optional (NMI columns are NaN without them)
    cec_fn : callable K -> CECOutcome, optional (a short CEC training per K)
    soft : dict, optional: filled with {K: (n, K) soft assignments}, the CEC run's q with ``cec_fn``, else
        :func:`kmeans_q` on the k-means centroids
    """
    rows = []
    for k in tqdm(list(k_values), desc="K sweep", disable=not progress):
        km = kmeans(latent, k, seed)
        row = {"k": k, "wcss": float(km.inertia_), "nmi_kmeans": np.nan}
        if labels is not None:
            row["nmi_kmeans"] = normalized_mutual_info_score(labels, km.labels_)
        if soft is not None and cec_fn is None:
            soft[k] = kmeans_q(latent, km.cluster_centers_)
        if cec_fn is not None:
            outcome = cec_fn(k)
            if soft is not None:
                soft[k] = np.asarray(outcome.q, dtype=np.float64)
            row.update(
                train_loss=outcome.train_loss,
                val_loss=outcome.val_loss,
                g=outcome.train_loss / outcome.val_loss if outcome.val_loss > 0 else np.nan,
                nmi_cec=normalized_mutual_info_score(labels, outcome.labels)
                if labels is not None
                else np.nan,
            )
        log.info("K=%d: %s", k, {key: round(v, 4) for key, v in row.items() if key != "k"})
        rows.append(row)
    return pd.DataFrame(rows)


def choose_k(table: pd.DataFrame) -> dict:
    """The K at the WCSS elbow, with the reason; the K of best NMI is reported beside it (it uses the
    labels, so it is a check, not a choice)."""
    k = elbow(table["k"], table["wcss"])
    choice = {
        "k": k,
        "method": "elbow of the k-means within-cluster sum of squares on the CAE latent space",
        "reason": f"K={k} is the point of the WCSS curve farthest from the chord joining K={table['k'].iloc[0]} "
        f"and K={table['k'].iloc[-1]}: beyond it more clusters reduce the WCSS by less",
    }
    for col in ("nmi_kmeans", "nmi_cec"):
        if col in table and table[col].notna().any():
            choice[f"k_best_{col}"] = int(table.loc[table[col].idxmax(), "k"])
    if "g" in table and table["g"].notna().any():
        choice["g_at_k"] = float(table.loc[table["k"] == k, "g"].iloc[0])
    return choice


# Where the K of CEC and the baselines comes from, by `clustering.k`: the number of labels of the level,
# the K sweep's choice (k_choice.json), or a number in the config.
K_SOURCES = {"labels": "labels", "auto": "sweep"}  # an integer: "config"


def resolve_k(setting, n_labels: int, n_samples: int, k_choice: dict | None = None) -> tuple[int, str]:
    """The number of clusters of CEC and the baselines at one label level, and where it came from.

    Parameters
    ----------
    setting : ``clustering.k`` (or the level's override): ``"labels"``, ``"auto"`` or an integer >= 2
    n_labels : number of distinct labels of the level (the K of ``"labels"``)
    n_samples : number of samples to cluster (K may not exceed it)
    k_choice : the K sweep's choice (``k_choice.json``, :func:`choose_k`); required by ``"auto"``

    Returns
    -------
    (k, source) with source ``"labels"``, ``"sweep"`` or ``"config"``
    """
    if isinstance(setting, bool) or not (setting in K_SOURCES or isinstance(setting, int | np.integer)):
        raise ValueError(f"clustering.k is {setting!r}: expected 'labels', 'auto' or an integer >= 2")
    if setting == "labels":
        k = n_labels
    elif setting == "auto":
        if k_choice is None or "k" not in k_choice:
            raise ValueError(
                "clustering.k is 'auto' but the K sweep's choice (k_choice.json, key 'k') is missing"
            )
        k = int(k_choice["k"])
    else:
        k = int(setting)
    source = K_SOURCES.get(setting, "config")
    if k < 2:
        raise ValueError(f"K = {k} (from {source}): at least 2 clusters are needed")
    if k > n_samples:
        raise ValueError(f"K = {k} (from {source}) exceeds the {n_samples} samples; lower clustering.k")
    return k, source
