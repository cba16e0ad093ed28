"""Classifiers of introgressed vs control sequences from k-mer counts, a GC-only baseline, and their metrics."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, matthews_corrcoef, roc_auc_score
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import LinearSVC

log = logging.getLogger("popcen")

PROBABILISTIC = ("logistic_regression", "naive_bayes", "random_forest")
CLASS_NAMES = {0: "control", 1: "introgressed"}


def kmer_models(rf_trees: int, seed: int, n_jobs: int = 1) -> dict:
    """The k-mer classifiers, each an sklearn estimator on the raw count matrix.

    The linear models see k-mer frequencies (rows scaled to sum 1, then to unit variance) so that sequence
    length does not dominate; naive Bayes and the forest use counts, as in the original analysis.
    """

    def frequencies():
        return [Normalizer(norm="l1"), StandardScaler(with_mean=False)]

    return {
        "logistic_regression": make_pipeline(
            *frequencies(), LogisticRegression(max_iter=5000, random_state=seed)
        ),
        "naive_bayes": MultinomialNB(),
        "linear_svm": make_pipeline(*frequencies(), LinearSVC(max_iter=20000, random_state=seed)),
        "random_forest": RandomForestClassifier(n_estimators=rf_trees, n_jobs=n_jobs, random_state=seed),
    }


def gc_baseline(seed: int):
    """Logistic regression on the GC fraction alone: what any k-mer model must beat to mean more than GC."""
    return make_pipeline(StandardScaler(), LogisticRegression(random_state=seed))


def positive_score(model, X) -> np.ndarray:
    """P(introgressed) where the model has probabilities, else its decision function (enough for ROC AUC)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def evaluate(
    name: str, y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray
) -> tuple[dict, pd.DataFrame]:
    """Accuracy, MCC, ROC AUC (NaN when the test part has one class) and the confusion matrix in long
    form."""
    auc = roc_auc_score(y_true, score) if len(np.unique(y_true)) == 2 else float("nan")
    cm = confusion_matrix(y_true, y_pred, labels=[0, 1])
    conf = pd.DataFrame(
        [{"model": name, "true": t, "predicted": p, "count": int(cm[t, p])} for t in (0, 1) for p in (0, 1)]
    )
    return {
        "model": name,
        "accuracy": accuracy_score(y_true, y_pred),
        "mcc": matthews_corrcoef(y_true, y_pred),
        "roc_auc": auc,
        "n_test": len(y_true),
    }, conf


def _mcc(tp: float, fp: float, fn: float, tn: float) -> float:
    """Matthews correlation of a 2 x 2 table; 0 when a margin is empty (sklearn's convention)."""
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / den) if den > 0 else 0.0


def per_class_table(confusion: pd.DataFrame, class_names: dict | None = None) -> pd.DataFrame:
    """Per model and class: precision, recall, F1, one-vs-rest MCC and support, from the long confusion
    table (model, true, predicted, count) of :func:`evaluate`.

    One-vs-rest: the class against all the others pooled, as a 2 x 2 table. With two classes the MCC of
    one class equals the other's (the 2 x 2 table is the same, transposed); precision, recall and F1 differ.
    """
    names = CLASS_NAMES if class_names is None else class_names
    rows = []
    for model, conf in confusion.groupby("model", sort=False):
        cm = conf.pivot_table(index="true", columns="predicted", values="count", aggfunc="sum", fill_value=0)
        labels = sorted(set(cm.index) | set(cm.columns))
        cm = cm.reindex(index=labels, columns=labels, fill_value=0).to_numpy(float)
        total = cm.sum()
        for i, label in enumerate(labels):
            tp = cm[i, i]
            fp, fn = cm[:, i].sum() - tp, cm[i, :].sum() - tp
            tn = total - tp - fp - fn
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            rows.append(
                {
                    "model": model,
                    "class": names.get(label, str(label)),
                    "label": label,
                    "precision": precision,
                    "recall": recall,
                    "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
                    "mcc": _mcc(tp, fp, fn, tn),
                    "support": int(tp + fn),
                }
            )
    return pd.DataFrame(rows)


def forest_importances(forest: RandomForestClassifier, kmers: list[str]) -> pd.DataFrame:
    """Impurity importance of each k-mer: mean over the trees and its spread (sd) across them."""
    per_tree = np.array([t.feature_importances_ for t in forest.estimators_])
    return (
        pd.DataFrame(
            {"kmer": kmers, "importance_mean": per_tree.mean(axis=0), "importance_sd": per_tree.std(axis=0)}
        )
        .sort_values("importance_mean", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


def fit_and_evaluate(
    X: sp.csr_matrix,
    gc: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    rf_trees: int,
    seed: int,
    n_jobs: int = 1,
):
    """Fit every k-mer model and the GC baseline on ``train``, evaluate on ``test``.

    Returns
    -------
    (fitted, metrics, confusion, scores)
        fitted: name -> estimator; metrics: one row per model; confusion: long table; scores: test-row
        scores per model (columns named by model).
    """
    fitted, rows, confs, scores = {}, [], [], {}
    models = kmer_models(rf_trees, seed, n_jobs)
    models["gc_only"] = gc_baseline(seed)
    for name, model in models.items():
        Xn = gc.reshape(-1, 1) if name == "gc_only" else X
        model.fit(Xn[train], y[train])
        score = positive_score(model, Xn[test])
        metrics, conf = evaluate(name, y[test], model.predict(Xn[test]), score)
        log.info(
            "%s: accuracy %.3f, ROC AUC %.3f on %d held-out sequences",
            name,
            metrics["accuracy"],
            metrics["roc_auc"],
            metrics["n_test"],
        )
        fitted[name], scores[name] = model, score
        rows.append({**metrics, "n_train": len(train)})
        confs.append(conf)
    return fitted, pd.DataFrame(rows), pd.concat(confs, ignore_index=True), pd.DataFrame(scores)


def add_model(
    name: str,
    y_true: np.ndarray,
    proba: np.ndarray,
    n_train: int,
    metrics: pd.DataFrame,
    confusion: pd.DataFrame,
    scores: pd.DataFrame,
    threshold: float = 0.5,
):
    """(metrics, confusion, scores) of :func:`fit_and_evaluate` with one more model, given its held-out
    P(introgressed) (called introgressed at ``threshold``)."""
    row, conf = evaluate(name, y_true, (proba >= threshold).astype(int), proba)
    metrics = pd.concat([metrics, pd.DataFrame([{**row, "n_train": n_train}])], ignore_index=True)
    return metrics, pd.concat([confusion, conf], ignore_index=True), scores.assign(**{name: proba})


def held_out_predictions(table: pd.DataFrame, test: np.ndarray, scores: pd.DataFrame) -> pd.DataFrame:
    """The held-out rows of the sequence table (seq_id, label, chrom, start, end) with every model's score."""
    rows = table.loc[test, ["seq_id", "label", "chrom", "start", "end"]].reset_index(drop=True)
    return pd.concat([rows, scores.reset_index(drop=True)], axis=1)
