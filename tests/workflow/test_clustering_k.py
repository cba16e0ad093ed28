"""clustering.k in the DAG: with ``auto`` rule k_sweep is upstream of train_cec and cluster_baselines (its
k_choice.json is their input); with ``labels`` or a number it is not. Dry runs of the tiny demo, from scratch,
targeting one level's CEC output only (rule all asks for k_choice.json anyway)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import TINY_DEMO_COHORT, TINY_PIPELINE, deep_merge, dry_run, make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

CEC = "results/demo/clustering/{level}/cec_assignments.tsv"
METRICS = "results/demo/clustering/{level}/metrics.tsv"


def _workdir(tmp_path, clustering: dict):
    return make_workdir(tmp_path, deep_merge(TINY_PIPELINE, {"clustering": clustering}), [TINY_DEMO_COHORT])


def _rules(wd, target: str) -> set[str]:
    return {job["rule"] for job in dry_run(wd, target)}


def _dag_edges(wd, target: str) -> set[tuple[str, str]]:
    """(upstream rule, downstream rule) pairs of ``snakemake --dag``."""
    out = run_snakemake(["--directory", wd, "--dag", "--cores", "1", target]).stdout
    names = {n: rule for n, rule in re.findall(r'^\s*(\d+)\[label = "([\w]+)', out, re.M)}
    return {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", out, re.M)}


@pytest.mark.parametrize("level", ["pop", "super_pop"])
def test_auto_puts_the_k_sweep_upstream_of_cec_and_the_baselines(tmp_path, level):
    wd = _workdir(tmp_path, {"k": "auto"})
    assert "k_sweep" in _rules(wd, CEC.format(level=level))
    edges = _dag_edges(wd, METRICS.format(level=level))
    assert ("k_sweep", "train_cec") in edges and ("k_sweep", "cluster_baselines") in edges, edges


@pytest.mark.parametrize("k", ["labels", 3])
def test_labels_or_a_number_keep_the_k_sweep_out_of_cec(tmp_path, k):
    wd = _workdir(tmp_path, {"k": k})
    rules = _rules(wd, METRICS.format(level="pop"))
    assert {"train_cae", "train_cec", "cluster_baselines"} <= rules and "k_sweep" not in rules, rules


def test_a_level_override_puts_the_sweep_upstream_of_that_level_only(tmp_path):
    wd = _workdir(tmp_path, {"k": "labels", "levels": {"super_pop": {"k": "auto"}}})
    assert "k_sweep" in _rules(wd, CEC.format(level="super_pop"))
    assert "k_sweep" not in _rules(wd, METRICS.format(level="pop"))


def test_a_bad_k_stops_before_any_job(tmp_path):
    for bad in (1, "foo"):
        wd = _workdir(tmp_path / str(bad), {"k": bad})
        proc = run_snakemake(["--directory", wd, "-n", "--cores", "1"], check=False)
        out = proc.stderr + proc.stdout
        assert proc.returncode != 0 and "config key clustering.k:" in out, out[-3000:]
        assert "labels" in out and "auto" in out and ">= 2" in out
        assert not (wd / "results").exists()
