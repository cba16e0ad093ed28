"""Baseline clusterings on the same samples as CEC.

On the CAE latent features: k-means, Ward agglomerative, Gaussian mixture, DBSCAN (eps at the knee of
the sorted k-distance curve) and OPTICS. On the raw genotypes: PCA(20) followed by k-means (what
VariantSpark does) and by Ward (the reference figure on the 1000 Genomes subset); the PCA of every variant,
a blocked randomized PCA streamed from the int8 store (:func:`popcen.streaming.blocked_pca`). DBSCAN and OPTICS find
their own number of clusters; their noise points (label -1) count as one more cluster when scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import DBSCAN, OPTICS, AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from popcen.streaming import blocked_pca

log = logging.getLogger("popcen")


def k_distances(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of every point to its k-th nearest other point, sorted increasingly."""
    nn = NearestNeighbors(n_neighbors=min(k + 1, len(x))).fit(x)
    dist, _ = nn.kneighbors(x)  # column 0 is the point itself
    return np.sort(dist[:, -1])


def knee(y: np.ndarray) -> int:
    """Index of the knee of an increasing curve: the point farthest from the chord joining its ends,
    both axes scaled to [0, 1] (the Kneedle idea, without smoothing)."""
    y = np.asarray(y, dtype=float)
    if len(y) < 3 or y[-1] == y[0]:
        return len(y) // 2
    x = np.linspace(0.0, 1.0, len(y))
    yn = (y - y[0]) / (y[-1] - y[0])
    return int(np.argmax(np.abs(yn - x)))


def dbscan_eps(x: np.ndarray, min_samples: int) -> float:
    """eps for DBSCAN: the k-distance (k = min_samples) at the knee of the sorted k-distance curve."""
    kd = k_distances(x, min_samples)
    return float(max(kd[knee(kd)], np.finfo(float).eps))


@dataclass
class BaselineResult:
    method: str
    space: str  # "latent" or "genotypes"
    labels: np.ndarray
    seconds: float
    note: str = ""


def _kmeans(x, k, seed, **_):
    return KMeans(n_clusters=k, n_init=20, random_state=seed).fit_predict(x), ""


def _ward(x, k, seed, **_):
    return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x), ""


def _gmm(x, k, seed, **_):
    gmm = GaussianMixture(n_components=k, covariance_type="full", n_init=5, random_state=seed, reg_covar=1e-5)
    return gmm.fit(x).predict(x), ""


def _dbscan(x, k, seed, min_samples=5, **_):
    eps = dbscan_eps(x, min_samples)
    return DBSCAN(eps=eps, min_samples=min_samples).fit_predict(x), f"eps={eps:.4g}"


def _optics(x, k, seed, min_samples=5, **_):
    return OPTICS(min_samples=min_samples).fit_predict(x), ""


def pca(genotypes, n_components: int, seed: int) -> np.ndarray:
    """Principal component scores of the samples, (samples, min(n_components, samples, variants)).

    Parameters
    ----------
    genotypes : (samples, variants), either
        - int8 alt counts (-1 = missing), numpy or Zarr: the blocked randomized PCA of the halved,
          mean-imputed, centred matrix (:func:`popcen.streaming.blocked_pca`), read one variant block at a
          time; memory O(samples x components) + one block. The cohort-wide rules pass the store.
        - a float matrix already scaled (e.g. :func:`popcen.images.scale_genotypes` of a few variants held in
          memory): sklearn's PCA, centred by PCA itself.
    n_components, seed : int
    """
    if np.issubdtype(np.dtype(genotypes.dtype), np.integer):
        return blocked_pca(genotypes, n_components, seed=seed).scores
    n_components = min(n_components, *genotypes.shape)
    return PCA(n_components=n_components, random_state=seed).fit_transform(genotypes)


LATENT_METHODS: dict[str, Callable] = {
    "kmeans": _kmeans,
    "ward": _ward,
    "gmm": _gmm,
    "dbscan": _dbscan,
    "optics": _optics,
}
GENOTYPE_METHODS: dict[str, Callable] = {"pca_kmeans": _kmeans, "pca_ward": _ward}


def run_baselines(
    latent: np.ndarray,
    genotypes: np.ndarray,
    n_clusters: int,
    seed: int = 0,
    min_samples: int = 5,
    pca_components: int = 20,
    methods: list[str] | None = None,
) -> list[BaselineResult]:
    """Run every baseline (or those named in ``methods``) and time each one.

    Parameters
    ----------
    latent : (n_samples, latent_dim) CAE latent features
    genotypes : (n_samples, n_variants), same sample order: the int8 alt counts (numpy or the Zarr store;
        blocked PCA, streamed) or scaled float genotypes held in memory (sklearn PCA); see :func:`pca`
    n_clusters : K for the methods that take one
    seed : int
    min_samples : DBSCAN / OPTICS neighbourhood size
    pca_components : PCA dimensions before the genotype baselines (the PCA time is included in theirs)
    methods : subset of ``LATENT_METHODS`` and ``GENOTYPE_METHODS`` names

    Returns
    -------
    list of BaselineResult, in the order of the registries
    """
    if len(latent) != genotypes.shape[0]:
        raise ValueError(f"{len(latent)} latent rows but {genotypes.shape[0]} genotype rows")
    wanted = set(methods) if methods is not None else set(LATENT_METHODS) | set(GENOTYPE_METHODS)
    unknown = wanted - set(LATENT_METHODS) - set(GENOTYPE_METHODS)
    if unknown:
        raise ValueError(f"unknown baseline(s): {', '.join(sorted(unknown))}")
    results = []
    for name, fn in LATENT_METHODS.items():
        if name in wanted:
            t0 = time.perf_counter()
            labels, note = fn(latent, n_clusters, seed, min_samples=min_samples)
            results.append(BaselineResult(name, "latent", np.asarray(labels), time.perf_counter() - t0, note))
    pcs, pca_seconds = None, 0.0
    for name, fn in GENOTYPE_METHODS.items():
        if name in wanted:
            t0 = time.perf_counter()
            if pcs is None:
                pcs = pca(genotypes, pca_components, seed)
                pca_seconds = time.perf_counter() - t0
                t0 = time.perf_counter()
            labels, note = fn(pcs, n_clusters, seed)
            seconds = time.perf_counter() - t0 + pca_seconds
            results.append(BaselineResult(name, "genotypes", np.asarray(labels), seconds, note))
    for r in results:
        log.info(
            "baseline %s: %d clusters in %.2fs %s", r.method, len(np.unique(r.labels)), r.seconds, r.note
        )
    return results
