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
    overlap = json.loads((d / "overlap.json").read_text())
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
