"""LightGBM + SHAP explanations on data whose informative variants are known; the streamed candidate
statistic and the batched SHAP aggregates against in-memory computations written here independently."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from popcen.classification.cv import stratified_folds
from popcen.explain import (
    as_float,
    beeswarm_rows,
    choose_sample,
    differentiation_chi2,
    importance,
    importance_table,
    lightgbm_cv_proba,
    make_lightgbm,
    read_columns,
    shap_summary,
    shap_values,
    top_candidates,
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
    proba = lightgbm_cv_proba(gn, y, stratified_folds(y, 3, 0), 3, params=params)
    assert (proba.argmax(1) == y).all()
    model = make_lightgbm(3, params).fit(x, y)
    values, expected = shap_values(model, x)
    assert values.shape == (len(y), gn.shape[1], 3)
    # SHAP is additive: expected value + sum of contributions = the model's raw score (log-odds)
    np.testing.assert_allclose(expected + values.sum(1), model.predict(x, raw_score=True), atol=1e-4)
    top = top_variants(importance(np.abs(values).mean(axis=0), LABELS), variants, k=3)
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


def scipy_chi2(gn, groups):
    """In memory, one variant at a time: Pearson's chi-square (no continuity correction) of the 2 x G table
    of alt and ref allele counts over called samples, groups without a call left out; 0 where scipy has no
    test (one allele only, or fewer than two groups called)."""
    out = []
    for j in range(gn.shape[1]):
        alt, ref = [], []
        for g in np.unique(groups):
            calls = gn[groups == g, j]
            calls = calls[calls >= 0]
            if len(calls):
                alt.append(calls.sum())
                ref.append(2 * len(calls) - calls.sum())
        table = np.array([alt, ref])
        ok = table.shape[1] >= 2 and table.sum(axis=1).all()
        out.append(chi2_contingency(table, correction=False)[0] if ok else 0.0)
    return np.array(out)


def chosen_in_memory(stat, cap):
    """The ``cap`` best by statistic, ties (to 1e-9) by genome order, returned in genome order."""
    order = sorted(range(len(stat)), key=lambda j: (-round(stat[j], 9), j))
    return sorted(order[:cap])


@pytest.fixture
def cohort(tmp_path):
    """43 samples in 4 groups of unequal size x 60 variants with group-dependent frequencies and missing
    calls, in a Zarr array of 7-variant chunks; some edge cases and a duplicated column (an exact tie)."""
    import zarr

    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(4), [15, 12, 10, 6])
    freq = rng.uniform(0, 1, size=(4, 60))
    gn = rng.binomial(2, freq[groups]).astype(np.int8)
    gn[rng.random(gn.shape) < 0.1] = -1
    gn[:, 5] = 0  # monomorphic
    gn[:, 6] = -1  # never called
    gn[groups == 2, 7] = -1  # one group without a call
    gn[:, 8] = np.where(gn[:, 8] < 0, -1, 2)  # only alt alleles
    gn[:, 40] = gn[:, 20]  # the same table as variant 20: the same statistic
    store = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    store.create_dataset("alt_count", data=gn, chunks=(43, 7))
    return store["alt_count"], gn, groups


def test_streamed_chi2_equals_scipy_per_variant(cohort):
    z, gn, groups = cohort
    folds = stratified_folds(groups, 3, 0)
    masks = [folds != f for f in range(3)]
    stats = differentiation_chi2(z, groups, 4, masks + [None])  # blocks of the 7-variant chunks
    assert stats.shape == (4, 60)
    for mask, got in zip(masks, stats[:3], strict=True):  # each fold's training samples only
        np.testing.assert_allclose(got, scipy_chi2(gn[mask], groups[mask]), rtol=1e-9, atol=1e-12)
    expected = scipy_chi2(gn, groups)
    np.testing.assert_allclose(stats[3], expected, rtol=1e-9, atol=1e-12)
    assert stats[3][[5, 6, 8]].tolist() == [0, 0, 0] and stats[3][7] > 0
    # blocks that do not follow the chunks, and a numpy array: the same numbers
    np.testing.assert_allclose(differentiation_chi2(gn, groups, 4, block=5)[0], expected, rtol=1e-9)


def test_candidates_streamed_equal_in_memory(cohort):
    z, gn, groups = cohort
    streamed = differentiation_chi2(z, groups, 4)[0]
    in_memory = scipy_chi2(gn, groups)
    for cap in (1, 10, 33):
        assert top_candidates(streamed, cap).tolist() == chosen_in_memory(in_memory, cap)
    # a cap that splits the tie of variants 20 and 40: the earlier one is kept
    cap = int((in_memory > in_memory[20] + 1e-9).sum()) + 1
    kept = top_candidates(streamed, cap).tolist()
    assert kept == chosen_in_memory(in_memory, cap) and 20 in kept and 40 not in kept
    assert top_candidates(streamed, 0).tolist() == list(range(60)) == top_candidates(streamed, 99).tolist()
    assert top_candidates(np.array([1.0, 3, 3, 0, 3]), 2).tolist() == [1, 2]
    # only the chosen columns are read, as int8
    cols = read_columns(z, kept)
    assert cols.dtype == np.int8 and (cols == gn[:, kept]).all()


def test_shap_aggregates_in_batches_equal_one_call():
    gn, y, _ = data()
    x = as_float(gn)
    model = make_lightgbm(3, {"n_estimators": 15, "min_child_samples": 3}).fit(x, y)
    values, expected = shap_values(model, x)  # the whole (samples, variants, classes) array at once
    rows, classes = np.array([0, 44, 89, 13]), np.array([0, 1, 2, 2])
    summary = shap_summary(model, x, rows, classes, batch_size=7)  # 13 batches, the last one short
    np.testing.assert_allclose(summary.mean_abs, np.abs(values).mean(axis=0), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(summary.expected, expected)
    for k, (r, c) in enumerate(zip(rows, classes, strict=True)):
        np.testing.assert_array_equal(summary.kept[k], values[r, :, c])
    imp = importance(summary.mean_abs, LABELS)
    np.testing.assert_allclose(imp["overall"], np.abs(values).mean(axis=(0, 2)), rtol=1e-10)
    np.testing.assert_allclose(imp["BBB"], np.abs(values[:, :, 1]).mean(axis=0), rtol=1e-10)


def test_beeswarm_rows_are_bounded():
    rows = beeswarm_rows(100, 30, seed=2)
    assert len(rows) == 30 == len(set(rows)) and (np.diff(rows) > 0).all() and rows.max() < 100
    assert (beeswarm_rows(100, 30, seed=2) == rows).all()
    assert beeswarm_rows(10, 0).tolist() == beeswarm_rows(10, 50).tolist() == list(range(10))


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
        "candidates": o / "candidates.json",
        "f1_png": o / "f1.png",
        "beeswarm": o / "bee.png",
        "waterfall": o / "wf.png",
    }
    params = {
        "label_columns": ["pop", "super_pop"],
        "seed": 1,
        "top_k": 3,
        "sample": "s40",
        "max_candidates": 8,
        "beeswarm_samples": 50,
        "lightgbm": {"n_estimators": 20, "min_child_samples": 3, "colsample_bytree": 1.0},
    }
    call(explain, input=inputs, output=outputs, params=params, wildcards={"cohort": "toy"})
    metrics = read_table(o / "metrics.tsv")
    assert metrics["model"].unique().tolist() == ["cae_classifier", "lightgbm", "lightgbm_from_pop"]
    top = read_table(o / "top.tsv")
    assert set(top.query("scope == 'overall'").id) == {"rs3", "rs8", "rs13"}
    imp = read_table(o / "imp.tsv")
    assert imp.columns.tolist()[:6] == ["id", "chrom", "pos", "ref", "alt", "overall"]
    # LightGBM saw the 8 candidates that an in-memory chi-square across the pops chooses
    stat = scipy_chi2(gn, y)
    assert imp["id"].tolist() == [f"rs{j}" for j in chosen_in_memory(stat, 8)]
    assert top.query("id == 'rs8'")["chi2"].iloc[0] == pytest.approx(stat[8], rel=1e-6)
    note = json.loads((o / "candidates.json").read_text())
    assert note["statistic"] == "chi2" and note["max_candidates"] == 8
    assert note["variants_scanned"] == 20 and note["candidates_kept"] == 8
    assert note["candidates_per_fold"] == {"0": 8, "1": 8, "2": 8}
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
