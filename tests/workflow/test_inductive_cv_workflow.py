"""classification.cv_representation on the tiny demo: `--config` of inductive reruns the CV only (a CAE per
fold, no cohort CAE), and the CV's outputs and the summary say which mode ran."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from popcen.summary import cv_representation_note
from tests.conftest import counts, dry_run, run_snakemake

pytestmark = pytest.mark.workflow

INDUCTIVE = ["--config", "classification={cv_representation: inductive}"]
CV_METRICS = [f"results/demo/classification/cv/{level}/metrics.tsv" for level in ("pop", "super_pop")]


def test_inductive_cv_runs_from_the_command_line_and_reports_its_mode(full_demo, tmp_path):
    wd = tmp_path / "wd"
    shutil.copytree(full_demo, wd, symlinks=True)
    cv = wd / "results/demo/classification/cv"
    # the full run was transductive (the default), and says so
    for level in ("pop", "super_pop"):
        assert set(pd.read_csv(cv / level / "metrics.tsv", sep="\t")["cv_representation"]) == {"transductive"}
        assert (
            json.loads((cv / level / "representation.json").read_text())["cv_representation"]
            == "transductive"
        )

    # switching the mode reruns the CV and what reads it, never a CAE or the final classifier
    jobs = counts(dry_run(wd, *INDUCTIVE))
    assert jobs.get("evaluate_classifier") == 2, jobs
    assert not set(jobs) & {"train_cae", "train_classifier", "train_cec", "classification_folds"}, jobs

    run_snakemake(["--directory", wd, "--cores", "2", *INDUCTIVE, "--", *CV_METRICS])
    samples = pd.read_csv(wd / "results/demo/features/samples.tsv", sep="\t")
    folds = pd.read_csv(wd / "results/demo/classification/folds.tsv", sep="\t")["fold"]
    tables = {}
    for level in ("pop", "super_pop"):
        tables[level] = metrics = pd.read_csv(cv / level / "metrics.tsv", sep="\t")
        assert set(metrics["cv_representation"]) == {"inductive"} and "f1" in set(metrics["metric"])
        about = json.loads((cv / level / "representation.json").read_text())
        assert about["cv_representation"] == "inductive"
        # one CAE per fold, trained on the samples outside it
        assert [f["fold"] for f in about["folds"]] == list(range(5))
        assert [f["n_train"] for f in about["folds"]] == [int((folds != k).sum()) for k in range(5)]
        predictions = pd.read_csv(cv / level / "predictions.tsv", sep="\t")
        assert len(predictions) == len(samples)
        assert "inductive CV" in (wd / f"results/demo/logs/evaluate_classifier/{level}.log").read_text()
    assert "<b>inductive</b>" in cv_representation_note(tables)

    # inductive, the fold CAEs read the representation section: a change of it reruns the CV alone (through
    # the config file: Snakemake passes a nested --config number as a string)
    path = wd / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["classification"]["cv_representation"] = "inductive"
    config.setdefault("representation", {})["dropout"] = 0.2
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = counts(dry_run(wd, "--", *CV_METRICS))
    assert jobs == {"evaluate_classifier": 2}, jobs
