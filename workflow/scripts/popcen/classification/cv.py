"""Stratified folds, out-of-fold predictions and the evaluation of a set of out-of-fold predictions.

Every classifier in the project (the CAE classifier, LightGBM, the benchmark's baselines) is evaluated on
the same folds: :func:`stratified_folds` is deterministic given the labels and the seed, and the folds are
written next to the predictions so that a later rule (``explain``) re-uses them instead of redrawing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split
from tqdm import tqdm

from popcen.classification.metrics import (
    coarsen_proba,
    confusion_table,
    label_map,
    per_class_table,
    roc_per_fold,
    summary_from_fine,
    summary_metrics,
)

log = logging.getLogger("popcen")


def stratified_folds(labels, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number (0..n_folds-1) of every sample, stratified by label.

    Raises
    ------
    ValueError
        When a class has fewer members than folds (its members could not appear in every fold's test
        set, and its recall would be undefined in some folds).
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    small = [f"{c} ({n})" for c, n in zip(classes, counts, strict=True) if n < n_folds]
    if small:
        raise ValueError(
            f"{n_folds}-fold cross-validation needs >= {n_folds} samples per class; "
            f"too few in: {', '.join(small)}"
        )
    folds = np.empty(len(labels), dtype=int)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[test] = k
    return folds


def inner_split(train_index: np.ndarray, labels, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a fold's training samples into (fit, validation), stratified; the test fold is never seen."""
    y = np.asarray(labels)[train_index]
    fit, val = train_test_split(train_index, test_size=fraction, stratify=y, random_state=seed)
    return np.sort(fit), np.sort(val)


def out_of_fold_proba(
    fit_predict: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
    folds: np.ndarray,
    n_classes: int,
    desc: str = "folds",
) -> np.ndarray:
    """Out-of-fold class probabilities: each sample predicted by the model that did not see it.

    Parameters
    ----------
    fit_predict : callable
        ``fit_predict(train_index, test_index, fold) -> proba`` of shape (len(test_index), n_classes).
    folds : ndarray of shape (n_samples,)
        Fold of every sample (from :func:`stratified_folds`).
    """
    proba = np.full((len(folds), n_classes), np.nan)
    for fold in tqdm(np.unique(folds), desc=desc):
        test = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        proba[test] = fit_predict(train, test, int(fold))
    return proba


def evaluate_level(y_true, proba: np.ndarray, labels, folds: np.ndarray) -> dict:
    """All tables for one label level from out-of-fold probabilities (columns in ``labels`` order)."""
    labels = list(labels)
    y_pred = np.asarray(labels)[np.argmax(proba, axis=1)]
    curves, aucs = roc_per_fold(y_true, proba, folds, labels)
    return {
        "summary": summary_metrics(y_true, y_pred, labels),
        "per_class": per_class_table(y_true, y_pred, labels),
        "confusion": confusion_table(y_true, y_pred, labels),
        "confusion_normalized": confusion_table(y_true, y_pred, labels, normalize=True),
        "roc": curves,
        "auc": aucs,
        "y_pred": y_pred,
    }


def evaluate_with_coarse(
    samples: pd.DataFrame,
    proba: np.ndarray,
    labels,
    folds: np.ndarray,
    fine: str,
    coarse: str | None,
) -> dict[str, dict]:
    """Evaluate at the fine level and, when a coarse column is given, at the coarse level derived from
    the fine predictions (probabilities summed per coarse class).

    Returns ``{fine: tables, coarse: tables}`` (see :func:`evaluate_level`).
    """
    results = {fine: evaluate_level(samples[fine].to_numpy(), proba, labels, folds)}
    if coarse:
        mapping = label_map(samples, fine, coarse)
        coarse_labels = sorted(set(mapping.values()))
        coarse_proba = coarsen_proba(proba, labels, mapping, coarse_labels)
        tables = evaluate_level(samples[coarse].to_numpy(), coarse_proba, coarse_labels, folds)
        # The coarse prediction is the coarse class of the fine prediction (the definition);
        # it can differ from the argmax of the summed probabilities, so report both.
        tables["summary_from_fine_argmax"] = summary_from_fine(samples, results[fine]["y_pred"], fine, coarse)
        results[coarse] = tables
    return results


def summary_frame(results: dict[str, dict], model: str) -> pd.DataFrame:
    """Long table ``model, level, metric, value`` of the macro summaries of :func:`evaluate_with_coarse`."""
    rows = []
    for level, tables in results.items():
        for key in ("summary", "summary_from_fine_argmax"):
            if key not in tables:
                continue
            suffix = "" if key == "summary" else "_from_fine_argmax"
            for metric, value in tables[key].items():
                rows.append({"model": model, "level": level, "metric": metric + suffix, "value": value})
    return pd.DataFrame(rows)


def from_fine_rows(model: str, samples: pd.DataFrame, fine_predicted, fine: str, coarse: str) -> pd.DataFrame:
    """Rows ``<model>_from_<fine>, <coarse>, metric, value``: a fine-level model's out-of-fold predictions scored
    at the coarse level, each sample's coarse class being the coarse class of its fine prediction."""
    summary = summary_from_fine(samples, fine_predicted, fine, coarse)
    return summary_frame({coarse: {"summary": summary}}, f"{model}_from_{fine}")
