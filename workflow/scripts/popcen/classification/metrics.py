"""Classification metrics at one label level: macro scores, a per-class table, the confusion matrix, ROC.

All functions take plain label arrays (strings or integers) and an explicit ``labels`` order, so that
every table and figure lists the classes in the same order whatever the predictions contain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    auc,
    confusion_matrix,
    matthews_corrcoef,
    precision_recall_fscore_support,
    roc_curve,
)


def summary_metrics(y_true, y_pred, labels) -> dict[str, float]:
    """Macro precision, recall and F1, Matthews correlation and accuracy.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    labels : sequence
        All classes; a class that is never predicted counts with precision 0 (sklearn's
        ``zero_division=0``), one that never occurs in ``y_true`` is still averaged in.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (macro averages), ``mcc`` (multi-class Matthews correlation,
        Gorodkin's R_K) and ``accuracy``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=list(labels), average="macro", zero_division=0
    )
    return {
        "precision": float(p),
        "recall": float(r),
        "f1": float(f),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
        "accuracy": float(np.mean(y_true == y_pred)),
    }


def per_class_table(y_true, y_pred, labels) -> pd.DataFrame:
    """One row per class: precision, recall, F1 and support (number of true members)."""
    p, r, f, s = precision_recall_fscore_support(
        np.asarray(y_true), np.asarray(y_pred), labels=list(labels), average=None, zero_division=0
    )
    return pd.DataFrame({"label": list(labels), "precision": p, "recall": r, "f1": f, "support": s})


def confusion_table(y_true, y_pred, labels, normalize: bool = False) -> pd.DataFrame:
    """Confusion matrix as a table: rows are true classes, columns predicted classes.

    With ``normalize=True`` each row is divided by its total (rows of absent classes stay 0), so the
    diagonal is the per-class recall.
    """
    cm = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=list(labels)).astype(float)
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    table = pd.DataFrame(cm, index=pd.Index(list(labels), name="true"), columns=list(labels))
    return table if normalize else table.astype(int)


def roc_per_fold(y_true, proba: np.ndarray, folds: np.ndarray, labels) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-vs-rest ROC curves and AUC for every class in every fold (out-of-fold probabilities).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    proba : ndarray of shape (n_samples, n_classes)
        Probability of each class in ``labels`` order.
    folds : ndarray of shape (n_samples,)
        Fold of each sample (the fold in which it was held out).
    labels : sequence of length n_classes

    Returns
    -------
    curves : DataFrame
        ``fold, label, fpr, tpr`` (one row per ROC point).
    aucs : DataFrame
        ``fold, label, auc``; AUC is NaN where a fold holds no member (or only members) of a class.
    """
    y_true, folds = np.asarray(y_true), np.asarray(folds)
    curves, aucs = [], []
    for fold in np.unique(folds):
        in_fold = folds == fold
        for j, label in enumerate(labels):
            positive = y_true[in_fold] == label
            if positive.all() or not positive.any():
                aucs.append({"fold": fold, "label": label, "auc": np.nan})
                continue
            fpr, tpr, _ = roc_curve(positive, proba[in_fold, j])
            curves.append(pd.DataFrame({"fold": fold, "label": label, "fpr": fpr, "tpr": tpr}))
            aucs.append({"fold": fold, "label": label, "auc": auc(fpr, tpr)})
    curve_table = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=["fold", "label", "fpr", "tpr"])
    )
    return curve_table, pd.DataFrame(aucs)


def coarsen(fine_labels, fine_to_coarse: dict) -> np.ndarray:
    """Map fine labels (pop) to coarse ones (super_pop), e.g. predictions of pop to super_pop."""
    missing = sorted(set(np.asarray(fine_labels).tolist()) - set(fine_to_coarse))
    if missing:
        raise KeyError(f"no coarse label for {missing}")
    return np.array([fine_to_coarse[x] for x in np.asarray(fine_labels)], dtype=object)


def coarsen_proba(proba: np.ndarray, fine_labels, fine_to_coarse: dict, coarse_labels) -> np.ndarray:
    """Sum the probabilities of the fine classes that belong to each coarse class.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_fine)
        Columns in ``fine_labels`` order.
    coarse_labels : sequence
        Column order of the result.
    """
    out = np.zeros((proba.shape[0], len(coarse_labels)))
    index = {c: k for k, c in enumerate(coarse_labels)}
    for j, fine in enumerate(fine_labels):
        out[:, index[fine_to_coarse[fine]]] += proba[:, j]
    return out


def coarse_groups(samples: pd.DataFrame, fine: str, coarse: str) -> tuple[int, ...]:
    """The coarse class index of every fine class, both in sorted order (the classes'
    ``encode_labels`` order): what :func:`popcen.classification.train.coarse_cross_entropy` groups by."""
    mapping = label_map(samples.astype({fine: str, coarse: str}), fine, coarse)
    coarse_labels = sorted(set(mapping.values()))
    return tuple(coarse_labels.index(mapping[f]) for f in sorted(mapping))


def label_map(samples: pd.DataFrame, fine: str, coarse: str) -> dict:
    """``{fine: coarse}`` from a samples table; a fine label listed under two coarse ones is an error."""
    pairs = samples[[fine, coarse]].drop_duplicates()
    clash = pairs[fine][pairs[fine].duplicated()].tolist()
    if clash:
        raise ValueError(f"{fine} value(s) {clash} belong to more than one {coarse}")
    return dict(zip(pairs[fine], pairs[coarse], strict=True))


def summary_from_fine(samples: pd.DataFrame, fine_predicted, fine: str, coarse: str) -> dict[str, float]:
    """:func:`summary_metrics` at the ``coarse`` level of the coarse class of each fine prediction: how a model
    trained on the fine labels (pop) scores at the coarse level (super_pop)."""
    mapping = label_map(samples, fine, coarse)
    labels = sorted(set(mapping.values()))
    return summary_metrics(samples[coarse].astype(str).to_numpy(), coarsen(fine_predicted, mapping), labels)
