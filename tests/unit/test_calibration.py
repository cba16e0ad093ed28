"""Calibrated calls: temperature scaling recovers a planted temperature, the threshold turns low-confidence
calls into ``unassigned``, and the out-of-reference distance flags a population the reference lacks."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from popcen.classification.calibration import (
    UNASSIGNED,
    assign_calls,
    assignment_summary,
    calibrate_proba,
    coarse_calls,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    proba_logits,
    reliability_table,
)
from popcen.io import read_json, read_table, write_table
from popcen.pipeline import classification


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def draw(rng, proba):
    """One class per row drawn from its probabilities."""
    u = rng.random(len(proba))[:, None]
    return (u > np.cumsum(proba, 1)).sum(1)


# ------------------------------------------------------------------------------------- temperature
@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_temperature_scaling_recovers_a_planted_temperature(true_t):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2.0, size=(20_000, 5))
    y = draw(rng, softmax(logits / true_t))  # labels drawn from the calibrated probabilities
    fitted = fit_temperature(logits, y)
    assert fitted == pytest.approx(true_t, rel=0.05)
    # the fitted temperature is the NLL's minimum: both neighbours are worse
    nll = negative_log_likelihood(logits, y, fitted)
    assert nll < negative_log_likelihood(logits, y, fitted * 1.1)
    assert nll < negative_log_likelihood(logits, y, fitted / 1.1)


def test_temperature_from_probabilities_and_the_reliability_it_fixes():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1.5, size=(20_000, 4))
    y = draw(rng, softmax(logits / 2.0))
    raw = softmax(logits)  # over-confident by a factor 2 in the logits
    fitted = fit_temperature(proba_logits(raw), y)  # log p: the logits up to a per-row constant
    assert fitted == pytest.approx(2.0, rel=0.05)
    calibrated = calibrate_proba(raw, fitted)
    np.testing.assert_allclose(calibrated, softmax(logits / fitted), atol=1e-9)
    np.testing.assert_allclose(calibrated.sum(1), 1.0)
    assert (calibrated.argmax(1) == raw.argmax(1)).all()  # the ranking does not change
    before, after = reliability_table(raw, y), reliability_table(calibrated, y)
    assert before["n"].sum() == after["n"].sum() == len(y)
    # over-confident: accuracy below the top probability in the upper bins; calibrated: close to it
    upper = before[(before["lower"] >= 0.6) & (before["n"] > 100)]
    assert (upper["accuracy"] < upper["confidence"] - 0.05).all()
    assert expected_calibration_error(after) < 0.02 < expected_calibration_error(before)


def test_reliability_table_by_hand():
    proba = np.array([[0.95, 0.05], [0.92, 0.08], [0.3, 0.7], [0.45, 0.55]])
    table = reliability_table(proba, np.array([0, 1, 1, 0]), n_bins=2)
    # bin [0, 0.5]: empty (the top probability is >= 0.5); bin (0.5, 1]: all four, 2 of 4 right
    assert table["n"].tolist() == [0, 4]
    assert table["accuracy"].iloc[1] == pytest.approx(0.5)
    assert table["confidence"].iloc[1] == pytest.approx((0.95 + 0.92 + 0.7 + 0.55) / 4)
    assert expected_calibration_error(table) == pytest.approx(abs(0.5 - 0.78))


# ------------------------------------------------------------------------------------------ calls
def test_the_threshold_turns_low_confidence_calls_into_unassigned():
    labels = ["A", "B", "C"]
    proba = np.array(
        [
            [0.90, 0.05, 0.05],  # confident A
            [0.50, 0.30, 0.20],  # unsure: most similar A, unassigned
            [0.10, 0.75, 0.15],  # exactly at the threshold: assigned
            [0.30, 0.45, 0.25],  # B at 0.45: assigned only with B's own threshold 0.4
        ]
    )
    calls = assign_calls(proba, labels, 0.75)
    assert calls["most_similar"].tolist() == ["A", "A", "B", "B"]
    assert calls["call"].tolist() == ["A", UNASSIGNED, "B", UNASSIGNED]
    np.testing.assert_allclose(calls["top_probability"], [0.9, 0.5, 0.75, 0.45])
    per_pop = assign_calls(proba, labels, 0.75, {"B": 0.4})
    assert per_pop["call"].tolist() == ["A", UNASSIGNED, "B", "B"]
    assert assign_calls(proba, labels, 0.0)["call"].tolist() == ["A", "A", "B", "B"]
    assert (assign_calls(proba, labels, 1.0)["call"] == UNASSIGNED).all()

    # what the threshold costs, against true labels A, B, B, A
    summary = assignment_summary(["A", "B", "B", "A"], calls, labels)
    assert summary["fraction_unassigned"] == pytest.approx(0.5)
    assert summary["accuracy"] == pytest.approx(2 / 4)  # most similar: A ok, A wrong, B ok, B wrong
    assert summary["accuracy_assigned"] == pytest.approx(1.0)  # the two assigned are right
    assert summary["f1_assigned"] == pytest.approx(1.0)
    nobody = assignment_summary(["A", "B", "B", "A"], assign_calls(proba, labels, 1.0), labels)
    assert nobody["fraction_unassigned"] == 1.0 and np.isnan(nobody["accuracy_assigned"])


def test_coarse_calls_sum_the_fine_probabilities():
    labels = ["CEU", "CHB", "JPT", "YRI"]
    mapping = {"CEU": "EUR", "CHB": "EAS", "JPT": "EAS", "YRI": "AFR"}
    proba = np.array([[0.05, 0.5, 0.4, 0.05], [0.6, 0.2, 0.1, 0.1]])
    fine = assign_calls(proba, labels, 0.75)
    calls, coarse = coarse_calls(proba, labels, mapping, 0.75)
    assert coarse == ["AFR", "EAS", "EUR"]
    assert fine["call"].tolist() == [UNASSIGNED, UNASSIGNED]
    # unsure between CHB and JPT, but 0.9 East Asian; the second is 0.6 EUR: unassigned at either level
    assert calls["call"].tolist() == ["EAS", UNASSIGNED]
    np.testing.assert_allclose(calls["top_probability"], [0.9, 0.6])


def test_calibrate_classifier_rule(tmp_path):
    """The rule function on a CV table of over-confident probabilities: its temperature, its calls, and the
    assignment table's numbers recomputed here."""
    rng = np.random.default_rng(3)
    n, labels = 400, ["CEU", "CHB", "JPT", "YRI"]
    mapping = {"CEU": "EUR", "CHB": "EAS", "JPT": "EAS", "YRI": "AFR"}
    logits = rng.normal(0, 1.0, (n, 4))
    logits[np.arange(n), rng.integers(0, 4, n)] += 2.0
    truth = draw(rng, softmax(logits))
    raw = softmax(3.0 * logits)  # over-confident: the true temperature is 3
    samples = pd.DataFrame(
        {
            "sample": [f"s{i}" for i in range(n)],
            "pop": np.asarray(labels)[truth],
            "super_pop": [mapping[labels[k]] for k in truth],
        }
    )
    cv = samples[["sample"]].assign(fold=np.arange(n) % 5, pop=samples["pop"], predicted="x")
    for j, label in enumerate(labels):
        cv[f"p_{label}"] = raw[:, j].round(6)
    write_table(cv, tmp_path / "predictions.tsv")
    write_table(samples, tmp_path / "samples.tsv")
    out = {
        "calibration": tmp_path / "calibration.json",
        "predictions": tmp_path / "calibrated.tsv",
        "assignment": tmp_path / "assignment.tsv",
        "reliability": tmp_path / "reliability.tsv",
        "reliability_png": tmp_path / "reliability.png",
    }
    classification.calibrate_classifier(
        SimpleNamespace(predictions=tmp_path / "predictions.tsv", samples=tmp_path / "samples.tsv"),
        SimpleNamespace(**out),
        SimpleNamespace(
            label_columns=["pop", "super_pop"], assign_threshold=0.75, population_thresholds={"JPT": 0.5}
        ),
        SimpleNamespace(level="pop", cohort="toy"),
        1,
        logging.getLogger("test"),
    )
    doc = read_json(out["calibration"])
    assert doc["labels"] == labels and 2.2 < doc["temperature"] < 4  # softened
    assert doc["nll_calibrated"] < doc["nll_raw"]
    table = read_table(out["predictions"])
    want = softmax(np.log(np.clip(cv[[f"p_{x}" for x in labels]].to_numpy(), 1e-6, 1)) / doc["temperature"])
    np.testing.assert_allclose(table[[f"p_{x}" for x in labels]], want, atol=2e-6)
    top = want.max(1)
    threshold = np.where(np.asarray(labels)[want.argmax(1)] == "JPT", 0.5, 0.75)
    unassigned = top < threshold
    assert (table["call"] == UNASSIGNED).tolist() == unassigned.tolist()
    assert 0 < unassigned.sum() < n
    assert {"call_super_pop", "most_similar_super_pop", "super_pop"} <= set(table.columns)
    metrics = read_table(out["assignment"]).set_index(["model", "level", "metric"])["value"]
    assert metrics["cae_classifier", "pop", "fraction_unassigned"] == pytest.approx(unassigned.mean())
    right = np.asarray(labels)[want.argmax(1)] == samples["pop"].to_numpy()
    assert metrics["cae_classifier", "pop", "accuracy_assigned"] == pytest.approx(right[~unassigned].mean())
    assert metrics["cae_classifier", "pop", "temperature"] == pytest.approx(doc["temperature"])
    assert ("cae_classifier_from_pop", "super_pop", "fraction_unassigned") in metrics.index
    assert out["reliability_png"].stat().st_size > 5000


# ------------------------------------------------------------------------------- out-of-reference
def test_separable_predictions_do_not_sharpen_without_limit():
    """Every out-of-fold prediction right: the likelihood keeps growing as T -> 0; the fit stops at the
    lower bound instead of turning every probability into 1."""
    from popcen.classification.calibration import MIN_TEMPERATURE

    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(0, 0.3, (300, 3))
    logits[np.arange(300), y] += 1.0  # always the top class, never confidently
    assert fit_temperature(logits, y) == pytest.approx(MIN_TEMPERATURE, rel=1e-3)
