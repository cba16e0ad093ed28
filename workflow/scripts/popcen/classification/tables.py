"""Label encoding, folds and prediction tables: the torch-free part shared by the classifier and LightGBM rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from popcen.classification.cv import stratified_folds
from popcen.errors import PopcenInputError


def encode_labels(samples: pd.DataFrame, column: str, source=None) -> tuple[np.ndarray, list[str]]:
    """Integer class of each sample (classes sorted by name) and the class names."""
    if column not in samples.columns:
        raise PopcenInputError(source, f"samples have no label column {column!r}")
    labels = sorted(samples[column].astype(str).unique())
    return np.searchsorted(labels, samples[column].astype(str).to_numpy()), labels


def make_folds(samples: pd.DataFrame, column: str, n_folds: int, seed: int, source=None) -> pd.DataFrame:
    """``sample, fold`` table stratified by ``column``; clear error when a class is too small."""
    try:
        folds = stratified_folds(samples[column].astype(str).to_numpy(), n_folds, seed)
    except ValueError as exc:
        raise PopcenInputError(
            source, f"{exc}; lower classification.n_folds or drop those populations"
        ) from None
    return pd.DataFrame({"sample": samples["sample"], "fold": folds})


def fold_numbers(folds: pd.DataFrame, samples: pd.DataFrame, source=None) -> np.ndarray:
    """The fold of every sample from a ``sample, fold`` table (:func:`make_folds`) that must list the samples
    of ``samples`` in the same order."""
    if folds["sample"].astype(str).tolist() != samples["sample"].astype(str).tolist():
        raise PopcenInputError(
            source, "folds list other samples than the features; re-run classification_folds"
        )
    return folds["fold"].to_numpy()


def predictions_table(
    samples: pd.DataFrame, column: str, labels, proba: np.ndarray, folds=None
) -> pd.DataFrame:
    """``sample, [fold], <column>, predicted, p_<label>...`` (probabilities in label order)."""
    out = pd.DataFrame({"sample": samples["sample"].to_numpy()})
    if folds is not None:
        out["fold"] = folds
    if column in samples.columns:
        out[column] = samples[column].to_numpy()
    out["predicted"] = np.asarray(labels)[proba.argmax(1)]
    for j, label in enumerate(labels):
        out[f"p_{label}"] = proba[:, j].round(6)
    return out
