"""The tiny demo through a real single-node SLURM with ``--profile profiles/slurm``.

A module fixture stands SLURM up on localhost (tests/slurm/local_slurm_setup.sh: munge, slurmctld, slurmd,
two fake GPUs, partitions "cpu" and "gpu" as in the profile) and stops the daemons it started, by their
PIDs, when the module ends. Where SLURM cannot be started (not root, no apt) the tests skip and say why;
POPCEN_SKIP_SLURM=1 skips them on purpose.

Only CI-only settings are overridden on the command line (the profile itself is used unchanged):
  --sdm env-modules       no conda here; no rule has `envmodules:`, so this runs every rule in the
                          current environment (the profile's `conda` cannot be switched off otherwise)
  --slurm-status-command squeue, --slurm-init-seconds-before-status-checks 2
                          without slurmdbd `sacct` fails and the plugin would wait forever; squeue is
                          kept only while MinJobAge (300 s here) >= 3 x the first status-check delay
  --slurm-keep-successful-logs   so that we can check each job's SLURM log (--verbose: with its srun call)
  --workflow-profile none  profiles/default (the local profile, auto-loaded) would override the SLURM
                          profile's settings (cores: 2 caps every rule's threads at 2)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from popcen.features import load_features
from tests.conftest import ROOT, TINY_DEMO, TINY_DEMO_COHORT, make_workdir, run_snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.workflow, pytest.mark.timeout(900)]

HERE = Path(__file__).resolve().parent
PROFILE = ROOT / "profiles" / "slurm"
# GPU rules, cheapest first: the run goes through the first one that exists, so that a `gpu: 1` request
# reaches sbatch (none may exist yet while the training stages are being written).
GPU_RULES = ["train_cae", "train_classifier", "train_cec", "evaluate_classifier", "predict"]
SLURM_RUN_TIMEOUT = 480
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


@pytest.fixture(scope="module")
def local_slurm(tmp_path_factory):
    if os.environ.get("POPCEN_SKIP_SLURM"):
        pytest.skip("POPCEN_SKIP_SLURM is set")
    state = tmp_path_factory.mktemp("slurm-state")
    env = {**os.environ, "SLURM_CI_DIR": str(state)}
    try:
        proc = subprocess.run(
            ["bash", str(HERE / "local_slurm_setup.sh")], env=env, capture_output=True, text=True, timeout=600
        )
        if proc.returncode == 77:
            pytest.skip(f"local SLURM cannot be started here: {proc.stdout.strip() or proc.stderr.strip()}")
        if proc.returncode != 0:
            logs = "".join(
                f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((state / "log").glob("*.log"))
            )
            pytest.fail(
                f"local SLURM setup failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}{logs}"
            )
        yield state
    finally:
        subprocess.run(["bash", str(HERE / "local_slurm_stop.sh")], env=env, capture_output=True, timeout=60)


def list_rules(workdir: Path) -> list[str]:
    return run_snakemake(["--directory", workdir, "--list-rules"]).stdout.split()


def job_stats(output: str) -> dict[str, int]:
    """The "Job stats" table Snakemake prints before running (rule -> number of jobs)."""
    lines = output.splitlines()
    start = lines.index("Job stats:")
    counts = {}
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def slurm_job(jobid: str) -> dict[str, str]:
    """`scontrol show job` as a dict (finished jobs stay visible for MinJobAge = 300 s)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", jobid], capture_output=True, text=True, check=True
    ).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def rule_of(info: dict[str, str]) -> str:
    """The plugin puts the rule (and wildcards) in the SLURM job's comment."""
    return re.match(r"rule_(\w+?)(_wildcards_|$)", info["Comment"]).group(1)


def minutes(time_limit: str) -> int:
    """SLURM's [D-]HH:MM:SS as minutes."""
    days, _, hms = time_limit.rpartition("-")
    h, m, s = map(int, hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


def megabytes(memory: str) -> float:
    """SLURM's 2000M / 62.50G as MB."""
    return float(memory[:-1]) * {"M": 1, "G": 1024, "T": 1024**2}[memory[-1]]


@pytest.fixture(scope="module")
def slurm_run(local_slurm, tmp_path_factory):
    """The SLURM run: (workdir, rules it ran up to, the GPU rule, the profile as used, snakemake's output)."""
    wd = make_workdir(tmp_path_factory.mktemp("slurm-demo"), TINY_DEMO, [TINY_DEMO_COHORT])
    profile_dir, profile = PROFILE, yaml.safe_load((PROFILE / "config.yaml").read_text())
    gpu_rules = [r for r in GPU_RULES if r in list_rules(wd)]
    if gpu_rules:
        gpu_rule = gpu_rules[0]
    else:
        # No training rule in the workflow yet: lend train_cae's GPU request to qc_summary in a copy of the
        # profile (one entry added), so that a `gpu: 1` job still goes through sbatch and the job step's srun.
        gpu_rule = "qc_summary"
        profile["set-resources"][gpu_rule] = {
            **profile["set-resources"].get(gpu_rule, {}),
            **{
                k: profile["set-resources"]["train_cae"][k]
                for k in ("slurm_partition", "gpu", "cpus_per_gpu", "cpus_per_task")
            },
        }
        profile_dir = tmp_path_factory.mktemp("profile")
        (profile_dir / "config.yaml").write_text(yaml.safe_dump(profile))
    # --until stops at the first until-rule on a path: train_cae (downstream of assemble_features) alone,
    # qc_summary (a sibling) together with assemble_features.
    until = [gpu_rule] if gpu_rules else ["assemble_features", gpu_rule]
    # Jobs run `<this python> -m snakemake` again inside SLURM (sbatch --export=ALL): the venv goes first.
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = run_snakemake(
        [
            "--directory",
            wd,
            "--profile",
            profile_dir,
            "--workflow-profile",
            "none",
            "--sdm",
            "env-modules",
            "--slurm-status-command",
            "squeue",
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--slurm-keep-successful-logs",
            "--verbose",
            "--until",
            *until,
        ],
        env=env,
        timeout=SLURM_RUN_TIMEOUT,
    )
    return wd, until, gpu_rule, profile, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    wd = make_workdir(tmp_path_factory.mktemp("local-demo"), TINY_DEMO, [TINY_DEMO_COHORT])
    run_snakemake(["--directory", wd, "--cores", "2", "results/demo/features/variants.tsv"])
    return wd


def test_every_job_went_through_sbatch(slurm_run):
    wd, until, gpu_rule, profile, output = slurm_run
    stats = job_stats(output)
    assert set(until) <= set(stats)
    assert {"simulate_demo_contig", "vcf_to_zarr", "ld_prune", "assemble_features"} <= set(stats)
    submitted = SUBMITTED.findall(output)
    # Each Snakemake job got a SLURM job (retries may add more submissions, never fewer).
    assert len({job for job, _, _ in submitted}) == sum(stats.values())
    assert len({slurm_id for _, slurm_id, _ in submitted}) == len(submitted) >= sum(stats.values())
    jobs_of_rule = {}
    for job, slurm_id, log in submitted:
        info = slurm_job(slurm_id)
        rule = rule_of(info)
        jobs_of_rule.setdefault(rule, set()).add(job)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", info
        # The per-rule SLURM log (kept with --slurm-keep-successful-logs) is the job's own output.
        log = Path(log)
        assert (
            log.is_file()
            and log.parent.relative_to(wd / ".snakemake" / "slurm_logs").parts[0] == f"rule_{rule}"
        )
        assert f"rule {rule}:" in log.read_text()
    assert {rule: len(jobs) for rule, jobs in jobs_of_rule.items()} == stats


def test_profile_resources_reach_slurm(slurm_run):
    """Partition, memory, time and CPUs in the profile are what SLURM allocated."""
    wd, until, gpu_rule, profile, output = slurm_run
    for _, slurm_id, _ in SUBMITTED.findall(output):
        info = slurm_job(slurm_id)
        rule = rule_of(info)
        res = {**profile["default-resources"], **profile["set-resources"].get(rule, {})}
        assert info["Partition"] == res["slurm_partition"]
        assert minutes(info["TimeLimit"]) == res["runtime"]
        assert abs(megabytes(info["MinMemoryNode"]) - res["mem_mb"]) <= 0.01 * res["mem_mb"]
        threads = profile["set-threads"].get(rule, 1)
        if res.get("gpu"):
            assert info.get("TresPerJob") == f"gres:gpu:{res['gpu']}"
            assert info["NumCPUs"] == str(res["cpus_per_gpu"] * res["gpu"])
        else:
            assert "gpu" not in info.get("TresPerJob", "")
            assert info["NumCPUs"] == str(threads)


def test_a_gpu_rule_got_a_gpu(slurm_run):
    wd, until, gpu_rule, profile, output = slurm_run
    gpu_jobs = [info for _, s, _ in SUBMITTED.findall(output) if rule_of(info := slurm_job(s)) == gpu_rule]
    assert gpu_jobs
    for info in gpu_jobs:
        assert info["TresPerJob"] == "gres:gpu:1" and info["Partition"] == "gpu", info
        # The job step ran the rule with `srun --gpus=1` inside the allocation: its SLURM log says so.
    log = next(Path(log) for _, s, log in SUBMITTED.findall(output) if s == gpu_jobs[0]["JobId"])
    srun = next(
        line for line in log.read_text().splitlines() if line.startswith("The call for this job is: srun")
    )
    assert "--gpus=1" in srun


def test_results_equal_a_local_run(slurm_run, local_run):
    wd = slurm_run[0]
    gn_s, var_s, sam_s = load_features(wd / "results/demo/features")
    gn_l, var_l, sam_l = load_features(local_run / "results/demo/features")
    assert gn_s.shape[1] > 100
    np.testing.assert_array_equal(np.asarray(gn_s), np.asarray(gn_l))
    pd.testing.assert_frame_equal(var_s, var_l)
    pd.testing.assert_frame_equal(sam_s, sam_l)
    for contig in ("chr21", "chr22"):
        a = pd.read_csv(wd / f"results/demo/qc/{contig}.variants.tsv.gz", sep="\t")
        b = pd.read_csv(local_run / f"results/demo/qc/{contig}.variants.tsv.gz", sep="\t")
        pd.testing.assert_frame_equal(a, b)
