"""Static checks of profiles/slurm: it names only rules that exist, asks GPUs the way the plugin reads them."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import ROOT
from tests.unit.test_envs import RULES

SLURM = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
GPU_RULES = {
    "train_cae",
    "train_cec",
    "train_classifier",
    "evaluate_classifier",
    "predict",
    "predict_admixture",
    "k_sweep",
}


def test_profile_uses_the_slurm_executor_with_conda():
    assert SLURM["executor"] == "slurm"
    assert SLURM["software-deployment-method"] == "conda"
    assert SLURM["rerun-incomplete"] is True and SLURM["retries"] >= 1 and SLURM["latency-wait"] >= 30
    assert {"slurm_partition", "runtime", "mem_mb", "cpus_per_task"} <= set(SLURM["default-resources"])


@pytest.mark.parametrize("section", ["set-resources", "set-threads"])
def test_profile_names_only_existing_rules(section):
    unknown = sorted(set(SLURM[section]) - set(RULES))
    assert not unknown, f"profiles/slurm {section} names rules that no .smk defines: {unknown}"


@pytest.mark.parametrize("rule", sorted(GPU_RULES))
def test_training_rules_ask_for_one_gpu(rule):
    res = SLURM["set-resources"][rule]
    assert res["gpu"] == 1 and res["slurm_partition"] == "gpu"
    # The plugin sends either --cpus-per-task (when cpus_per_task is truthy, as the default here makes it)
    # or --cpus-per-gpu: 0 switches the first off so that CPUs are asked per GPU.
    assert res["cpus_per_task"] == 0 and res["cpus_per_gpu"] == SLURM["set-threads"][rule]


def test_only_training_rules_ask_for_gpus():
    assert {r for r, res in SLURM["set-resources"].items() if res.get("gpu")} == GPU_RULES
