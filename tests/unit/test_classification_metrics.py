"""Classification metrics against values computed by hand, CV folds and the coarse (super_pop) level."""

import math

import numpy as np
import pandas as pd
import pytest

from popcen.classification.cv import evaluate_with_coarse, out_of_fold_proba, stratified_folds
from popcen.classification.metrics import (
    coarsen,
    coarsen_proba,
    confusion_table,
    per_class_table,
    roc_per_fold,
    summary_metrics,
)

# true a a a b b c / predicted a a b b c c  ->  confusion rows a: 2 1 0, b: 0 1 1, c: 0 0 1
Y_TRUE = np.array(["a", "a", "a", "b", "b", "c"])
Y_PRED = np.array(["a", "a", "b", "b", "c", "c"])
LABELS = ["a", "b", "c"]


def test_confusion_by_hand():
    cm = confusion_table(Y_TRUE, Y_PRED, LABELS)
    assert cm.to_numpy().tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    norm = confusion_table(Y_TRUE, Y_PRED, LABELS, normalize=True).to_numpy()
    np.testing.assert_allclose(norm, [[2 / 3, 1 / 3, 0], [0, 0.5, 0.5], [0, 0, 1]])


def test_summary_by_hand():
    m = summary_metrics(Y_TRUE, Y_PRED, LABELS)
    # precision a 2/2, b 1/2, c 1/2; recall a 2/3, b 1/2, c 1/1; F1 a 0.8, b 0.5, c 2/3
    assert m["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert m["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # Gorodkin's R_K: correct c=4, total s=6, predicted counts p=(2,2,2), true counts t=(3,2,1)
    assert m["mcc"] == pytest.approx((4 * 6 - (2 * 3 + 2 * 2 + 2 * 1)) / math.sqrt((36 - 12) * (36 - 14)))
    assert m["accuracy"] == pytest.approx(4 / 6)
    table = per_class_table(Y_TRUE, Y_PRED, LABELS)
    np.testing.assert_allclose(table.f1, [0.8, 0.5, 2 / 3])
    assert table.support.tolist() == [3, 2, 1]


def test_never_predicted_class_counts_as_zero():
    m = summary_metrics(["a", "b"], ["a", "a"], ["a", "b"])
    # a: precision 1/2, recall 1, F1 2/3; b: precision 0 (never predicted), recall 0, F1 0
    assert m["f1"] == pytest.approx((2 / 3 + 0) / 2)


def test_roc_auc_by_hand():
    y = np.array(["a", "a", "b", "b"])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.2, 0.8]])
    _, aucs = roc_per_fold(y, proba, np.zeros(4, int), ["a", "b"])
    # class a scores: positives 0.9, 0.4 ; negatives 0.6, 0.2 -> pairs won 3 of 4
    assert aucs.set_index("label").auc["a"] == pytest.approx(0.75)
    assert aucs.set_index("label").auc["b"] == pytest.approx(0.75)


def test_coarsen():
    mapping = {"YRI": "AFR", "CEU": "EUR", "GBR": "EUR"}
    assert coarsen(["GBR", "YRI"], mapping).tolist() == ["EUR", "AFR"]
    p = coarsen_proba(np.array([[0.2, 0.3, 0.5]]), ["YRI", "CEU", "GBR"], mapping, ["AFR", "EUR"])
    np.testing.assert_allclose(p, [[0.2, 0.8]])
    with pytest.raises(KeyError):
        coarsen(["JPT"], mapping)


def test_folds_are_stratified_and_deterministic():
    y = np.repeat(["a", "b", "c"], [10, 15, 20])
    folds = stratified_folds(y, 5, seed=3)
    assert np.array_equal(folds, stratified_folds(y, 5, seed=3))
    for k in range(5):
        assert sorted(pd.Series(y[folds == k]).value_counts().tolist()) == [2, 3, 4]
    with pytest.raises(ValueError, match="too few"):
        stratified_folds(np.repeat(["a", "b"], [10, 3]), 5)


def test_out_of_fold_uses_only_training_samples():
    y = np.repeat([0, 1], 10)
    folds = stratified_folds(y, 5, seed=0)

    def fit_predict(train, test, fold):
        assert not set(train) & set(test)
        assert np.all(folds[test] == fold)
        return np.tile([0.25, 0.75], (len(test), 1))

    proba = out_of_fold_proba(fit_predict, folds, 2)
    assert not np.isnan(proba).any()


def test_evaluate_with_coarse_level():
    samples = pd.DataFrame({"pop": ["YRI", "YRI", "CEU", "GBR"], "super_pop": ["AFR", "AFR", "EUR", "EUR"]})
    labels = ["CEU", "GBR", "YRI"]
    # CEU and GBR confused with each other, AFR/EUR always right
    proba = np.array([[0, 0, 1], [0, 0, 1], [0.4, 0.6, 0], [0.7, 0.3, 0.0]])
    res = evaluate_with_coarse(samples, proba, labels, np.array([0, 1, 0, 1]), "pop", "super_pop")
    assert res["pop"]["summary"]["accuracy"] == pytest.approx(0.5)
    assert res["super_pop"]["summary"]["f1"] == pytest.approx(1.0)
    assert res["super_pop"]["summary_from_fine_argmax"]["mcc"] == pytest.approx(1.0)


def test_a_fine_model_scored_at_the_coarse_level():
    from popcen.classification.cv import from_fine_rows
    from popcen.classification.metrics import summary_from_fine

    samples = pd.DataFrame({"pop": ["YRI", "LWK", "CEU", "GBR"], "super_pop": ["AFR", "AFR", "EUR", "EUR"]})
    # two pops wrong but within their super_pop, one across
    predicted = np.array(["LWK", "YRI", "GBR", "YRI"])
    summary = summary_from_fine(samples, predicted, "pop", "super_pop")
    assert summary["accuracy"] == pytest.approx(0.75)
    rows = from_fine_rows("lightgbm", samples, predicted, "pop", "super_pop")
    assert set(rows["model"]) == {"lightgbm_from_pop"} and set(rows["level"]) == {"super_pop"}
    assert rows.set_index("metric")["value"]["accuracy"] == pytest.approx(0.75)


def test_folds_must_list_the_features_samples(tmp_path):
    from popcen.classification.tables import fold_numbers
    from popcen.errors import PopcenInputError
    from popcen.io import read_table
    from popcen.pipeline import call
    from popcen.pipeline.classification import classification_folds

    samples = pd.DataFrame({"sample": [f"s{i}" for i in range(12)], "pop": ["A", "B", "C"] * 4})
    samples.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    call(
        classification_folds,
        input={"samples": tmp_path / "samples.tsv"},
        output={"folds": tmp_path / "cls" / "folds.tsv"},
        params={"label_column": "pop", "n_folds": 4, "seed": 1},
    )
    table = read_table(tmp_path / "cls" / "folds.tsv")
    folds = fold_numbers(table, samples)
    assert table["sample"].tolist() == samples["sample"].tolist() and sorted(set(folds)) == [0, 1, 2, 3]
    assert all(
        len(set(samples["pop"][folds == k])) == 3 for k in range(4)
    )  # stratified: every pop in every fold
    with pytest.raises(PopcenInputError, match="re-run classification_folds"):
        fold_numbers(table.iloc[::-1], samples, "folds.tsv")
    with pytest.raises(PopcenInputError, match="lower classification.n_folds"):
        call(
            classification_folds,
            input={"samples": tmp_path / "samples.tsv"},
            output={"folds": tmp_path / "f.tsv"},
            params={"label_column": "pop", "n_folds": 5, "seed": 1},
        )
