"""The tiny demo through train/evaluate_classifier, explain and predict (demo_new, predicted by demo)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import TINY_DEMO_COHORT, TINY_NEW_COHORT, run_snakemake

pytestmark = pytest.mark.workflow


def read(path):
    return pd.read_csv(path, sep="\t", dtype={"sample": str})


def test_cross_validation_outputs(full_demo):
    d = full_demo / "results/demo/classification"
    samples = read(full_demo / "results/demo/features/samples.tsv")
    folds = read(d / "folds.tsv")
    assert folds["sample"].tolist() == samples["sample"].tolist() and folds["fold"].nunique() == 5
    pop = read(d / "cv/pop/predictions.tsv")
    # one out-of-fold prediction per labelled sample, in its own fold, probabilities summing to 1
    assert pop["sample"].tolist() == samples["sample"].tolist()
    assert (pop["fold"].to_numpy() == folds["fold"].to_numpy()).all()
    proba = pop[[c for c in pop.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-4)
    confusion = pd.read_csv(d / "cv/pop/confusion.tsv", sep="\t", index_col=0)
    assert confusion.to_numpy().sum() == len(samples)
    assert np.trace(confusion.to_numpy()) == (pop["pop"] == pop["predicted"]).sum()
    metrics = read(d / "cv/super_pop/metrics.tsv")
    assert set(metrics["model"]) == {"cae_classifier", "cae_classifier_from_pop"}
    assert {"f1", "mcc", "precision", "recall"} <= set(metrics["metric"])
    f1 = metrics.set_index(["model", "metric"])["value"]
    # three well separated super-populations: even the tiny demo gets most of them right
    assert f1["cae_classifier_from_pop", "f1"] > 0.6
    auc = read(d / "cv/pop/auc.tsv")
    assert len(auc) == 5 * 4 and auc["auc"].between(0, 1).all()
    for name in ("confusion", "roc", "f1"):
        assert (d / f"cv/pop/{name}.png").stat().st_size > 5000
    meta = json.loads((d / "model.json").read_text())
    assert meta["labels"] == ["CEU", "CHB", "JPT", "YRI"] and meta["coarse_map"]["JPT"] == "EAS"
    # the super_pop loss (on in the tests' config) grouped the pops by their super_pop (AFR, EAS, EUR)
    assert meta["settings"]["coarse_weight"] == 1.0 and meta["settings"]["coarse_of"] == [2, 1, 1, 0]
    # the tests' config asks for a 2-member seed ensemble: both members' weights are in the saved model
    assert meta["ensemble"] == 2
    weights = torch.load(d / "model.pt", weights_only=True)
    assert {k.split(".")[1] for k in weights} == {"0", "1"}


def test_calibration_and_calls_of_the_cross_validation(full_demo):
    """calibrate_classifier: one temperature fitted on the out-of-fold probabilities, the CV predictions
    with calibrated probabilities and calls at the default threshold (0.75), and what it costs."""
    d = full_demo / "results/demo/classification/cv/pop"
    raw = read(d / "predictions.tsv")
    cal = read(d / "calibrated_predictions.tsv")
    doc = json.loads((d / "calibration.json").read_text())
    labels = ["CEU", "CHB", "JPT", "YRI"]
    assert doc["labels"] == labels and doc["temperature"] > 0 and doc["nll_calibrated"] <= doc["nll_raw"]
    logits = np.log(np.clip(raw[[f"p_{x}" for x in labels]].to_numpy(), 1e-6, 1)) / doc["temperature"]
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(cal[[f"p_{x}" for x in labels]].to_numpy(), want, atol=2e-6)
    assert cal["most_similar"].tolist() == raw["predicted"].tolist()  # scaling keeps the ranking
    unassigned = want.max(1) < 0.75
    assert (cal["call"] == "unassigned").tolist() == unassigned.tolist()
    assigned = ~unassigned
    metrics = read(d / "assignment.tsv").set_index(["model", "level", "metric"])["value"]
    assert metrics["cae_classifier", "pop", "fraction_unassigned"] == pytest.approx(unassigned.mean())
    if assigned.any():
        right = (cal["most_similar"] == cal["pop"]).to_numpy()
        assert metrics["cae_classifier", "pop", "accuracy_assigned"] == pytest.approx(right[assigned].mean())
    assert ("cae_classifier_from_pop", "super_pop", "f1_assigned") in metrics.index
    assert (d / "reliability.png").stat().st_size > 5000
    # the coarse level's own classifier has its own temperature
    assert json.loads((d.parent / "super_pop/calibration.json").read_text())["labels"] == [
        "AFR",
        "EAS",
        "EUR",
    ]


def test_reference_distances(full_demo):
    """reference_distances: each population's allele counts at the CAE's variants (checked here against the
    feature store), every sample's leave-one-out distance; the cutoff is their 99th percentile."""
    import zarr

    d = full_demo / "results/demo/classification"
    ref = json.loads((d / "reference.json").read_text())
    table = read(d / "cv/reference_distances.tsv")
    samples = read(full_demo / "results/demo/features/samples.tsv")
    assert table["sample"].tolist() == samples["sample"].tolist()
    assert ref["labels"] == ["CEU", "CHB", "JPT", "YRI"] and ref["quantile"] == 0.99
    assert ref["cutoff"] == pytest.approx(np.quantile(table["distance"], 0.99), rel=1e-5)
    assert table["outlier"].tolist() == (table["distance"] > ref["cutoff"]).tolist()
    index = json.loads((full_demo / "results/demo/representation/cae.json").read_text())["variant_index"]
    g = zarr.open_group(str(full_demo / "results/demo/features/genotypes.zarr"), mode="r")["alt_count"][:]
    g = g[:, index]
    with np.load(d / "reference.npz") as counts:
        for k, pop in enumerate(ref["labels"]):
            rows = g[samples["pop"].to_numpy() == pop]
            np.testing.assert_array_equal(counts["alt"][k], np.where(rows >= 0, rows, 0).sum(0))
            np.testing.assert_array_equal(counts["called"][k], 2 * (rows >= 0).sum(0))
    # a sample's genotypes fit its own continent's population best (CHB and JPT, sister populations, may
    # swap); at test size (12 samples per population, 800 kb) a few fit another continent's better
    continent = {"CEU": "EUR", "YRI": "AFR", "CHB": "EAS", "JPT": "EAS"}
    assert (table["nearest"].map(continent) == table["pop"].map(continent)).mean() > 0.9


def test_explain_outputs(full_demo):
    d = full_demo / "results/demo/explain"
    top = read(d / "top_variants.tsv")
    assert set(top["scope"]) == {"overall", "CEU", "CHB", "JPT", "YRI"}
    assert (top.groupby("scope").size() == 15).all()
    assert {"id", "chrom", "pos", "alleles", "af", "af_YRI", "mean_abs_shap"} <= set(top.columns)
    variants = read(full_demo / "results/demo/features/variants.tsv")
    first = top[top.scope == "overall"].iloc[0]
    row = variants[variants["id"] == first["id"]].iloc[0]
    assert first["alleles"] == f"{row.ref}>{row.alt}" and first["af_CEU"] == pytest.approx(row.af_CEU)
    ranked = top[top.scope == "overall"]["mean_abs_shap"].to_numpy()
    assert (np.diff(ranked) <= 0).all()
    metrics = read(d / "metrics_comparison.tsv")
    assert {"cae_classifier", "lightgbm"} <= set(metrics["model"])
    # every row says what its CV read: the CAE's mode, and LightGBM's per-fold candidates
    lightgbm_rows = metrics["model"].str.startswith("lightgbm")
    assert set(metrics.loc[lightgbm_rows, "cv_representation"]) == {"inductive"}
    assert set(metrics.loc[~lightgbm_rows, "cv_representation"]) == {"transductive"}
    assert set(metrics["level"]) == {"pop", "super_pop"}
    lgb = read(d / "lightgbm_predictions.tsv")
    folds = read(full_demo / "results/demo/classification/folds.tsv")
    assert (lgb["fold"].to_numpy() == folds["fold"].to_numpy()).all()  # same folds as the classifier
    for name in ("shap_beeswarm", "shap_waterfall", "f1_comparison"):
        assert (d / f"{name}.png").stat().st_size > 5000


def test_new_cohort_predictions(full_demo):
    d = full_demo / "results/demo_new/predict"
    panel = pd.read_csv(full_demo / "resources/demo/demo_new.panel", sep=r"\s+", dtype=str)
    pred = read(d / "predictions.tsv")
    assert sorted(pred["sample"]) == sorted(panel["sample"])
    proba = pred[["p_CEU", "p_CHB", "p_JPT", "p_YRI"]].to_numpy()
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-4)
    assert set(pred["predicted"]) <= {"CEU", "CHB", "JPT", "YRI"}
    assert set(pred["predicted_super_pop"]) <= {"AFR", "EUR", "EAS"}
    # calibrated calls: the most similar population always, the call only at >= 0.75 (the default)
    assert pred["most_similar"].tolist() == pred["predicted"].tolist()
    np.testing.assert_allclose(pred["top_probability"], proba.max(1), atol=1e-5)
    low = pred["top_probability"] < 0.75
    assert (pred.loc[low, "call"] == "unassigned").all()
    assert (pred.loc[~low, "call"] == pred.loc[~low, "most_similar"]).all()
    assert set(pred["call_super_pop"]) <= {"AFR", "EUR", "EAS", "unassigned"}
    # the out-of-reference score against the model cohort's cutoff, and the imputed fraction
    ref = json.loads((full_demo / "results/demo/classification/reference.json").read_text())
    assert np.isfinite(pred["distance"]).all() and set(pred["nearest_reference"]) <= set(ref["labels"])
    assert pred["outlier"].tolist() == (pred["distance"] > ref["cutoff"]).tolist()
    # demo_new drops a fraction of the records (new_cohort_missing_fraction) and, with min_mac, QC more
    assert pred["missing_fraction"].between(0, 0.5).all() and pred["missing_fraction"].min() > 0
    overlap = json.loads((d / "overlap.json").read_text())
    assert overlap["fraction_unassigned"] == pytest.approx((pred["call"] == "unassigned").mean())
    assert overlap["fraction_outlier"] == pytest.approx(pred["outlier"].mean())
    # demo_new is written like an independent VCF: contigs without 'chr', some records dropped, some
    # with ref/alt swapped; matching must undo the names and the swaps
    assert overlap["swapped"] > 0 and 0.5 <= overlap["overlap"] < 1
    assert overlap["accuracy_where_labelled"]["super_pop"] > 0.6
    # no features, LD pruning or training for a predicted cohort
    assert not (full_demo / "results/demo_new/features").exists()
    assert not (full_demo / "results/demo_new/ld").exists()


def test_a_new_cohort_runs_only_its_own_jobs(full_demo, tmp_path):
    wd = tmp_path / "wd"
    shutil.copytree(full_demo, wd, symlinks=True)
    other = {**TINY_NEW_COHORT, "name": "demo_other"}
    pd.DataFrame([TINY_DEMO_COHORT, TINY_NEW_COHORT, other]).to_csv(
        wd / "config/cohorts.tsv", sep="\t", index=False
    )
    out = run_snakemake(["--directory", wd, "-n", "--cores", "1"]).stdout
    jobs = {
        line.split()[0]
        for line in out.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit() and line.split()[0] != "total"
    }
    assert {"vcf_to_zarr", "variant_qc", "predict"} <= jobs
    trained = {
        "train_cae",
        "train_classifier",
        "evaluate_classifier",
        "calibrate_classifier",
        "reference_distances",
        "explain",
        "assemble_features",
        "ld_prune",
    }
    assert not jobs & trained, jobs


def test_too_little_overlap_stops_with_a_clear_error(full_demo, tmp_path):
    wd = tmp_path / "wd"
    shutil.copytree(full_demo, wd, symlinks=True)
    cfg = yaml.safe_load((wd / "config/config.yaml").read_text())
    cfg.setdefault("classification", {})["min_overlap"] = 1.0  # demo_new lacks some records on purpose
    (wd / "config/config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    target = "results/demo_new/predict/predictions.tsv"
    (wd / target).unlink()
    proc = run_snakemake(["--directory", wd, "--cores", "1", target], check=False)
    assert proc.returncode != 0
    assert "popcen error in rule predict" in proc.stderr and "min_overlap" in proc.stderr
    assert not (wd / target).exists()
