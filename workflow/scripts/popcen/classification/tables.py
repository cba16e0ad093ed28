"""Label encoding, folds and prediction tables: the torch-free part shared by the classifier and LightGBM rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from popcen.classification.cv import stratified_folds
from popcen.errors import PopcenInputError


def require_classes(samples: pd.DataFrame, column: str, source=None) -> None:
    """Refuse a label column with fewer than two classes: a classifier (or its CV) of one class predicts it
    for every sample and scores F1 = 1.0, a result that means nothing."""
    if column not in samples.columns:
        raise PopcenInputError(source, f"samples have no label column {column!r}")
    classes = samples[column].astype(str).unique()
    if len(classes) < 2:
        found = f"{len(classes)} class{'es' * (len(classes) != 1)} ({', '.join(classes) or 'no sample'})"
        raise PopcenInputError(
            source,
            f"label column {column!r} has {found} over {len(samples)} samples: a classifier needs at least "
            f"2; keep more populations in the cohort sheet, or drop {column!r} from its label_columns",
        )


def encode_labels(samples: pd.DataFrame, column: str, source=None) -> tuple[np.ndarray, list[str]]:
    """Integer class of each sample (classes sorted by name) and the class names; at least two classes."""
    require_classes(samples, column, source)
    labels = sorted(samples[column].astype(str).unique())
    return np.searchsorted(labels, samples[column].astype(str).to_numpy()), labels


def make_folds(samples: pd.DataFrame, column: str, n_folds: int, seed: int, source=None) -> pd.DataFrame:
    """``sample, fold`` table stratified by ``column``; clear error when there is one class (the first rule
    of a cohort's classification that can tell) or a class is too small."""
    require_classes(samples, column, source)
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
