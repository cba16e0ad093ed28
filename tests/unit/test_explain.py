"""LightGBM + SHAP explanations on data whose informative variants are known."""

import numpy as np
import pandas as pd
import pytest

from popcen.classification.cv import stratified_folds
from popcen.explain import (
    as_float,
    choose_sample,
    importance,
    importance_table,
    lightgbm_cv_proba,
    make_lightgbm,
    shap_values,
    top_variants,
    variant_names,
)

LABELS = ["AAA", "BBB", "CCC"]


def data(n_per_class=30, n_variants=20, seed=0):
    """Population k is told apart by variant 3 + 5k alone (count 2 in P_k, 0 elsewhere); others are noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    gn = rng.integers(0, 3, size=(len(y), n_variants)).astype(np.int8)
    for k in range(3):
        gn[:, 3 + 5 * k] = np.where(y == k, 2, 0)
    gn[0, 1] = -1  # a missing call
    variants = pd.DataFrame(
        {
            "id": [f"rs{i}" for i in range(n_variants)],
            "chrom": "1",
            "pos": np.arange(n_variants) * 100 + 1,
            "ref": "A",
            "alt": "G",
            "af": gn.clip(0).mean(0) / 2,
        }
    )
    for k, lab in enumerate(LABELS):
        variants[f"af_{lab}"] = gn[y == k].clip(0).mean(0) / 2
    return gn, y, variants


def test_missing_becomes_nan():
    x = as_float(np.array([[0, -1, 2]], dtype=np.int8))
    assert np.isnan(x[0, 1]) and x[0, 2] == 2


def test_cv_and_shap_find_the_informative_variants():
    gn, y, variants = data()
    x = as_float(gn)
    params = {"n_estimators": 30, "min_child_samples": 3, "colsample_bytree": 1.0}
    proba = lightgbm_cv_proba(x, y, stratified_folds(y, 3, 0), 3, params)
    assert (proba.argmax(1) == y).all()
    model = make_lightgbm(3, params).fit(x, y)
    values, expected = shap_values(model, x)
    assert values.shape == (len(y), gn.shape[1], 3)
    # SHAP is additive: expected value + sum of contributions = the model's raw score (log-odds)
    np.testing.assert_allclose(expected + values.sum(1), model.predict(x, raw_score=True), atol=1e-4)
    top = top_variants(importance(values, LABELS), variants, k=3)
    assert set(top[top.scope == "overall"].id) == {"rs3", "rs8", "rs13"}
    first = top[top["rank"] == 1].set_index("scope")
    assert first.loc["BBB", "id"] == "rs8"
    row = top[top.id == "rs8"].iloc[0]
    assert row.alleles == "A>G" and row.af_BBB == pytest.approx(1.0) and row.af_AAA == pytest.approx(0.0)


def test_top_variants_order_and_ties():
    imp = pd.DataFrame({"overall": [0.1, 0.5, 0.5, 0.0], "P": [1, 0, 0, 2]})
    variants = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "chrom": "2", "pos": [1, 2, 3, 4], "ref": "C", "alt": "T", "af": 0.5}
    )
    top = top_variants(imp, variants, k=2)
    assert top[top.scope == "overall"].id.tolist() == ["b", "c"]  # tie: genome order
    assert top[top.scope == "P"].id.tolist() == ["d", "a"]
    assert variant_names(variants.assign(id=["rs1", ".", "2:3:C:T", "x"]))[:3] == [
        "rs1 (2:1 C>T)",
        "2:2 C>T",
        "2:3 C>T",
    ]


def test_choose_sample():
    samples = pd.DataFrame({"sample": ["s1", "s2"]})
    assert choose_sample(samples, "") == 0 and choose_sample(samples, "s2") == 1
    with pytest.raises(KeyError):
        choose_sample(samples, "s9")


def test_importance_table_puts_the_variant_in_front():
    gn, y, variants = data()
    imp = pd.DataFrame({"overall": np.arange(len(variants), dtype=float)})
    table = importance_table(imp, variants)
    assert table.columns.tolist() == ["id", "chrom", "pos", "ref", "alt", "overall"]
    with pytest.raises(ValueError, match="importances for"):
        importance_table(imp.iloc[:3], variants)


def test_the_rule_writes_its_tables_and_figures(tmp_path):
    """pipeline.explain.explain on files, as Snakemake runs it; an unknown explain.sample is a clear error."""
    import zarr

    from popcen.errors import PopcenInputError
    from popcen.io import read_table
    from popcen.pipeline import call
    from popcen.pipeline.explain import explain

    gn, y, variants = data()
    samples = pd.DataFrame(
        {
            "sample": [f"s{i}" for i in range(len(y))],
            "pop": np.asarray(LABELS)[y],
            "super_pop": np.where(y == 0, "X", "Y"),
        }
    )
    zarr.open_group(str(tmp_path / "genotypes.zarr"), mode="w").create_dataset("alt_count", data=gn)
    variants.to_csv(tmp_path / "variants.tsv", sep="\t", index=False)
    samples.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    pd.DataFrame({"sample": samples["sample"], "fold": stratified_folds(y, 3, 0)}).to_csv(
        tmp_path / "folds.tsv", sep="\t", index=False
    )
    cae = pd.DataFrame(
        {"model": "cae_classifier", "level": "pop", "metric": ["f1", "mcc"], "value": [0.9, 0.8]}
    )
    cae.to_csv(tmp_path / "cae_metrics.tsv", sep="\t", index=False)
    per_class = pd.DataFrame(
        {"label": LABELS, "precision": 1.0, "recall": 1.0, "f1": [1.0, 0.9, 0.8], "support": 30}
    )
    per_class.to_csv(tmp_path / "per_class.tsv", sep="\t", index=False)
    inputs = {
        "genotypes": tmp_path / "genotypes.zarr",
        "variants": tmp_path / "variants.tsv",
        "samples": tmp_path / "samples.tsv",
        "folds": tmp_path / "folds.tsv",
        "cae_metrics": [tmp_path / "cae_metrics.tsv"],
        "cae_per_class": tmp_path / "per_class.tsv",
    }
    o = tmp_path / "explain"
    outputs = {
        "metrics": o / "metrics.tsv",
        "predictions": o / "predictions.tsv",
        "importance": o / "imp.tsv",
        "top": o / "top.tsv",
        "f1_png": o / "f1.png",
        "beeswarm": o / "bee.png",
        "waterfall": o / "wf.png",
    }
    params = {
        "label_columns": ["pop", "super_pop"],
        "seed": 1,
        "top_k": 3,
        "sample": "s40",
        "lightgbm": {"n_estimators": 20, "min_child_samples": 3, "colsample_bytree": 1.0},
    }
    call(explain, input=inputs, output=outputs, params=params, wildcards={"cohort": "toy"})
    metrics = read_table(o / "metrics.tsv")
    assert metrics["model"].unique().tolist() == ["cae_classifier", "lightgbm", "lightgbm_from_pop"]
    assert set(read_table(o / "top.tsv").query("scope == 'overall'").id) == {"rs3", "rs8", "rs13"}
    assert read_table(o / "imp.tsv").columns.tolist()[:6] == ["id", "chrom", "pos", "ref", "alt", "overall"]
    assert read_table(o / "predictions.tsv")["fold"].tolist() == stratified_folds(y, 3, 0).tolist()
    assert all(path.stat().st_size > 5000 for path in (o / "f1.png", o / "bee.png", o / "wf.png"))
    with pytest.raises(PopcenInputError, match="'nobody' is not a sample"):
        call(
            explain,
            input=inputs,
            output=outputs,
            params={**params, "sample": "nobody"},
            wildcards={"cohort": "t"},
        )
