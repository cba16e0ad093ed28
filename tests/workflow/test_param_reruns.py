"""A rerun follows only what changed: each rule receives only the config keys it reads, so that a dry run
after a config edit schedules the rules that read the key and what depends on their outputs, nothing else.

Runs on the finished tiny pipeline (the session's ``full_demo``); each test edits its config, dry-runs and
puts the config back.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.conftest import counts, deep_merge, dry_run

pytestmark = pytest.mark.workflow

# Everything downstream of train_cec (per level) and the K sweep, which trains CEC at each K; the Q matrices
# (of the cohort and of the cohort it predicts) come from the CEC.
ADMIXTURE = {"admixture_proportions", "predict_admixture"}
AFTER_CEC = {
    "train_cec",
    "cluster_baselines",
    "clustering_figures",
    "k_sweep",
    "k_sweep_proportions",  # the Q at the sweep's K, from the sweep's CEC
    "cohort_summary",
    *ADMIXTURE,
}


@contextmanager
def edited(wd: Path, overrides: dict):
    path = wd / "config" / "config.yaml"
    saved = path.read_text()
    path.write_text(yaml.safe_dump(deep_merge(yaml.safe_load(saved), overrides), sort_keys=False))
    try:
        yield
    finally:
        path.write_text(saved)


def scheduled(wd: Path) -> list[dict]:
    """The jobs of a dry run of the default target, less ``all`` itself."""
    return [job for job in dry_run(wd) if job["rule"] != "all"]


def changed_params(jobs: list[dict]) -> set[str]:
    return {j["rule"] for j in jobs if "Params have changed" in j["reason"]}


def test_nothing_to_do_after_the_full_run(full_demo):
    assert scheduled(full_demo) == []


def test_a_figure_key_reruns_only_the_figures(full_demo):
    with edited(full_demo, {"clustering": {"tsne_perplexity": 7.0}}):
        jobs = scheduled(full_demo)
    # one t-SNE figure job per label level, and nothing else
    assert counts(jobs) == {"clustering_figures": 2}, counts(jobs)


def test_a_cec_key_reruns_cec_and_what_follows_not_the_cae(full_demo):
    with edited(full_demo, {"clustering": {"tol": 0.002}}):
        jobs = scheduled(full_demo)
    rules = set(counts(jobs))
    assert "train_cec" in rules and "train_cae" not in rules, counts(jobs)
    assert rules <= AFTER_CEC, counts(jobs)
    assert changed_params(jobs) <= {"train_cec", "k_sweep"}, changed_params(jobs)


def test_a_k_sweep_key_reruns_only_the_sweep_its_q_and_the_summary(full_demo):
    with edited(full_demo, {"clustering": {"k_max": 3}}):
        jobs = scheduled(full_demo)
    assert set(counts(jobs)) == {"k_sweep", "k_sweep_proportions", "cohort_summary"}, counts(jobs)


def test_clustering_k_reruns_cec_and_the_baselines_not_the_sweep(full_demo):
    # the K sweep chooses one K whatever clustering.k; only the rules that cluster at K (and the summary) rerun
    with edited(full_demo, {"clustering": {"k": 3}}):
        jobs = scheduled(full_demo)
    assert set(counts(jobs)) == {
        "train_cec",
        "cluster_baselines",
        "clustering_figures",
        "cohort_summary",
        *ADMIXTURE,
    }, counts(jobs)
    # the rules after train_cec are scheduled for its new outputs (the reason Snakemake names first)
    assert changed_params(jobs) == {"train_cec"}, changed_params(jobs)


def test_a_fold_key_does_not_retrain_the_final_classifier(full_demo):
    with edited(full_demo, {"classification": {"fold_seed": 11}}):
        jobs = scheduled(full_demo)
    rules = set(counts(jobs))
    assert "classification_folds" in rules and "evaluate_classifier" in rules, counts(jobs)
    # the temperature and the outlier cutoff are fitted on the folds: predict follows them, not the training
    assert {"calibrate_classifier", "reference_distances", "predict"} <= rules, counts(jobs)
    assert not rules & {"train_classifier", "train_cae", "train_cec"}, counts(jobs)


def test_a_threshold_reruns_the_calls_not_the_classifier(full_demo):
    with edited(
        full_demo, {"classification": {"assign_threshold": 0.6, "population_thresholds": {"JPT": 0.5}}}
    ):
        jobs = scheduled(full_demo)
    # the CV's calls at both levels, the new cohort's predictions, what is drawn or grouped by its calls (the
    # figure over the reference, its STRUCTURE plot at each level) and its summary
    after_predict = {"predict": 1, "predict_over_reference": 1, "predict_admixture": 2, "cohort_summary": 1}
    assert counts(jobs) == {"calibrate_classifier": 2, **after_predict}, counts(jobs)
    with edited(full_demo, {"classification": {"outlier_quantile": 0.95}}):
        jobs = scheduled(full_demo)
    assert counts(jobs) == {"reference_distances": 1, **after_predict}, counts(jobs)


def test_an_introgression_key_reruns_only_the_rule_that_reads_it(full_demo):
    with edited(full_demo, {"introgression": {"permutations": 7}}):
        assert counts(scheduled(full_demo)) == {"introgression_permutation": 1}
    with edited(full_demo, {"introgression": {"embedding": {"window": 3}}}):
        assert counts(scheduled(full_demo)) == {"introgression_embedding": 1}
