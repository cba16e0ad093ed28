"""Out-of-reference score: how far a sample lies from every population of the training cohort.

A classifier gives a sample from a population it never saw the label of the nearest class it knows, often
with confidence. The score here is independent of the classifier: the Mahalanobis distance of the sample's
CAE latent code to the nearest training population, each population summarised by its mean, all sharing
one covariance of the within-population residuals (estimated robustly by the minimum covariance determinant,
or by Ledoit-Wolf shrinkage). The cutoff that flags an ``outlier`` is a quantile (99 % by default) of the
training cohort's own out-of-fold distances: each fold scored against population statistics fitted
without it, so that a held-out in-reference sample exceeds it with about the chosen probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.covariance import LedoitWolf, MinCovDet

COVARIANCES = ("mcd", "ledoit_wolf")
# Added to the covariance's diagonal (times its mean variance) so that a latent unit that never varies
# (a dead ReLU) cannot make it singular.
RIDGE = 1e-6


@dataclass
class ReferenceModel:
    """Population means (C, d) in ``labels`` order and the shared (d, d) covariance."""

    labels: list[str]
    means: np.ndarray
    covariance: np.ndarray

    @property
    def precision(self) -> np.ndarray:
        return np.linalg.pinv(self.covariance, hermitian=True)

    def to_dict(self) -> dict:
        return {
            "labels": list(self.labels),
            "means": np.asarray(self.means).tolist(),
            "covariance": np.asarray(self.covariance).tolist(),
        }

    @classmethod
    def from_dict(cls, doc: dict) -> ReferenceModel:
        return cls(
            labels=[str(x) for x in doc["labels"]],
            means=np.asarray(doc["means"], dtype=np.float64),
            covariance=np.asarray(doc["covariance"], dtype=np.float64),
        )


def fit_reference(latent: np.ndarray, labels, covariance: str = "mcd", seed: int = 0) -> ReferenceModel:
    """Per-population means and the shared covariance of the within-population residuals.

    Parameters
    ----------
    latent : (n, d) float, the reference samples' codes
    labels : (n,) their populations
    covariance : ``mcd`` (minimum covariance determinant: residuals of atypical samples, e.g. admixed or
        mislabelled ones, do not widen it) or ``ledoit_wolf`` (shrinkage; for few samples per dimension)
    """
    x = np.asarray(latent, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"need (n, d) codes and n labels, got {x.shape} and {labels.shape}")
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {COVARIANCES}, not {covariance!r}")
    classes, y = np.unique(labels, return_inverse=True)
    means = np.stack([x[y == k].mean(0) for k in range(len(classes))])
    residuals = x - means[y]
    d = x.shape[1]
    if covariance == "mcd" and len(x) > 2 * d:
        cov = MinCovDet(assume_centered=True, random_state=seed).fit(residuals).covariance_
    else:
        cov = LedoitWolf(assume_centered=True).fit(residuals).covariance_
    scale = float(np.trace(cov)) / d if d else 0.0
    cov = cov + RIDGE * (scale if scale > 0 else 1.0) * np.eye(d)
    return ReferenceModel(labels=classes.tolist(), means=means, covariance=cov)


def population_distances(model: ReferenceModel, latent: np.ndarray) -> np.ndarray:
    """(n, C) Mahalanobis distances of every sample to every population mean."""
    x = np.asarray(latent, dtype=np.float64)
    if x.shape[1] != model.means.shape[1]:
        raise ValueError(f"codes of {x.shape[1]} dimensions for a reference of {model.means.shape[1]}")
    diff = x[:, None, :] - model.means[None, :, :]  # (n, C, d)
    squared = np.einsum("ncd,de,nce->nc", diff, model.precision, diff)
    return np.sqrt(np.clip(squared, 0, None))


def nearest_population(model: ReferenceModel, latent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance to the nearest population, that population's label) of every sample."""
    dist = population_distances(model, latent)
    nearest = dist.argmin(1)
    return dist[np.arange(len(dist)), nearest], np.asarray(model.labels, dtype=object)[nearest]


def out_of_fold_distances(
    latent: np.ndarray, labels, folds: np.ndarray, covariance: str = "mcd", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Every sample's :func:`nearest_population` against a reference fitted without its fold."""
    x = np.asarray(latent, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    folds = np.asarray(folds)
    distance = np.full(len(x), np.nan)
    nearest = np.empty(len(x), dtype=object)
    for fold in np.unique(folds):
        test = folds == fold
        model = fit_reference(x[~test], labels[~test], covariance, seed)
        distance[test], nearest[test] = nearest_population(model, x[test])
    return distance, nearest


def outlier_cutoff(distances: np.ndarray, quantile: float) -> float:
    """The ``quantile`` of the (out-of-fold) reference distances: samples beyond it are outliers."""
    d = np.asarray(distances, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not len(d):
        raise ValueError("no finite distance to calibrate the outlier cutoff on")
    return float(np.quantile(d, quantile))
