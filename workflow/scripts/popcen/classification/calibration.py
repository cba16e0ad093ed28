"""Calibrated probabilities and calls: temperature scaling fitted on out-of-fold predictions, reliability
tables, and the ``unassigned`` call below a probability threshold.

Temperature scaling (Guo et al. 2017) divides a model's logits by one number T fitted by minimising the
negative log-likelihood of held-out predictions: T > 1 softens over-confident probabilities, T < 1 sharpens
under-confident ones, and the ranking of the classes (the most similar population) never changes. The
cross-validation writes probabilities, not logits; their logarithm is a logit vector up to a per-sample
constant, which the softmax ignores, so ``softmax(log p / T)`` is the same transform. A probability is
floored at :data:`PROBA_FLOOR` (the resolution of the CV tables, written to 6 decimals) before the logarithm,
when the temperature is fitted and whenever it is applied, so that both see the same values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from popcen.classification.metrics import coarsen_proba, summary_metrics

PROBA_FLOOR = 1e-6
UNASSIGNED = "unassigned"
# Search range of T. When every out-of-fold prediction is right (well separated populations), the
# likelihood grows without limit as T -> 0 and would push every probability to 1, even a new sample's from a
# population the model never saw; sharpening is therefore capped at a factor 5 in the logits (an
# under-confident model stays at most conservative). Softening is capped at 100.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.2, 100.0


def proba_logits(proba: np.ndarray, floor: float = PROBA_FLOOR) -> np.ndarray:
    """Logits (up to a per-row constant) of class probabilities: ``log(max(p, floor))``."""
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), floor, 1.0))


def scaled_log_proba(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``log softmax(logits / T)`` (n, K)."""
    return log_softmax(np.asarray(logits, dtype=np.float64) / float(temperature), axis=1)


def negative_log_likelihood(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes ``y`` (int) under ``softmax(logits / T)``."""
    log_p = scaled_log_proba(logits, temperature)
    return float(-log_p[np.arange(len(y)), np.asarray(y)].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T that minimises the mean negative log-likelihood of ``softmax(logits / T)`` (a bounded
    1-D search on log T, T within [:data:`MIN_TEMPERATURE`, :data:`MAX_TEMPERATURE`]).

    Parameters
    ----------
    logits : (n, K) float (or :func:`proba_logits` of probabilities)
    y : (n,) int true classes, 0 <= y < K
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    if logits.ndim != 2 or len(logits) != len(y) or len(y) == 0:
        raise ValueError(f"need (n, K) logits and n labels, got {logits.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= logits.shape[1]:
        raise ValueError(f"labels must lie in 0..{logits.shape[1] - 1}")
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, y, np.exp(log_t)),
        bounds=(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def calibrate_proba(proba: np.ndarray, temperature: float, floor: float = PROBA_FLOOR) -> np.ndarray:
    """Temperature-scaled probabilities ``softmax(log max(p, floor) / T)`` (rows sum to 1)."""
    return np.exp(scaled_log_proba(proba_logits(proba, floor), temperature))


def reliability_table(proba: np.ndarray, y: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Top probability against accuracy in ``n_bins`` equal-width bins of the top probability.

    Returns ``bin, lower, upper, n, confidence, accuracy`` (confidence: the mean top probability of the
    bin's samples, accuracy: the fraction whose top class is the true one; NaN for an empty bin).
    """
    proba = np.asarray(proba, dtype=np.float64)
    top = proba.max(1)
    correct = proba.argmax(1) == np.asarray(y)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(top, edges[1:-1], right=True), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = which == b
        rows.append(
            {
                "bin": b,
                "lower": edges[b],
                "upper": edges[b + 1],
                "n": int(inside.sum()),
                "confidence": float(top[inside].mean()) if inside.any() else np.nan,
                "accuracy": float(correct[inside].mean()) if inside.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def expected_calibration_error(table: pd.DataFrame) -> float:
    """ECE of a :func:`reliability_table`: the sample-weighted mean |accuracy − confidence| over the bins."""
    used = table[table["n"] > 0]
    return float((used["n"] * (used["accuracy"] - used["confidence"]).abs()).sum() / used["n"].sum())


# ------------------------------------------------------------------------------------------ calls
def label_thresholds(labels, default: float, per_label: dict | None = None) -> np.ndarray:
    """The threshold of each label: its entry in ``per_label``, else ``default``."""
    per_label = per_label or {}
    return np.array([float(per_label.get(str(label), default)) for label in labels])


def assign_calls(proba: np.ndarray, labels, default: float, per_label: dict | None = None) -> pd.DataFrame:
    """``most_similar, top_probability, call`` of each sample: its most probable label, that probability,
    and the label itself when the probability reaches the label's threshold (:func:`label_thresholds`),
    else :data:`UNASSIGNED`."""
    proba = np.asarray(proba, dtype=np.float64)
    labels = np.asarray([str(label) for label in labels], dtype=object)
    top = proba.argmax(1)
    top_p = proba[np.arange(len(proba)), top]
    thresholds = label_thresholds(labels, default, per_label)
    assigned = top_p >= thresholds[top]
    return pd.DataFrame(
        {
            "most_similar": labels[top],
            "top_probability": top_p.round(6),
            "call": np.where(assigned, labels[top], UNASSIGNED),
        }
    )


def coarse_calls(
    proba: np.ndarray, labels, coarse_map: dict, default: float, per_label: dict | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """:func:`assign_calls` at the coarse level from fine probabilities summed per coarse class (e.g. an
    East Asian sample unsure between CHB and JPT is still EAS). Returns the calls and the coarse labels."""
    coarse_labels = sorted(set(coarse_map.values()))
    summed = coarsen_proba(np.asarray(proba, dtype=np.float64), labels, coarse_map, coarse_labels)
    return assign_calls(summed, coarse_labels, default, per_label), coarse_labels


def assignment_summary(y_true, calls: pd.DataFrame, labels) -> dict:
    """What a threshold costs, from true labels and :func:`assign_calls`: ``fraction_unassigned``,
    ``accuracy`` (of the most similar label, every sample), and ``accuracy_assigned``, ``f1_assigned``
    (macro over the labels that occur among the assigned samples' true or called labels) among the
    assigned samples (NaN when none is)."""
    y_true = np.asarray(y_true).astype(str)
    assigned = calls["call"].to_numpy() != UNASSIGNED
    out = {
        "n_samples": float(len(y_true)),
        "fraction_unassigned": float(1 - assigned.mean()) if len(y_true) else np.nan,
        "accuracy": float((calls["most_similar"].to_numpy().astype(str) == y_true).mean()),
        "accuracy_assigned": np.nan,
        "f1_assigned": np.nan,
    }
    if assigned.any():
        y_a, c_a = y_true[assigned], calls["call"].to_numpy()[assigned].astype(str)
        out["accuracy_assigned"] = float((y_a == c_a).mean())
        present = [str(label) for label in labels if str(label) in set(y_a) | set(c_a)]
        out["f1_assigned"] = float(summary_metrics(y_a, c_a, present)["f1"])
    return out
