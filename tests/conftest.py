"""Shared fixtures: where the project and the real shared data are, and how to run snakemake."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POPCEN_SHARED_DATA", ROOT.parent / "shared" / "data"))
KG_SUBSET = SHARED_DATA / "1kg_phase3_subset"
NEANDERTHAL = SHARED_DATA / "neanderthal"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def require_dir(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (set POPCEN_SHARED_DATA to point at shared/data)")
    return path


@pytest.fixture(scope="session")
def kg_subset() -> Path:
    return require_dir(KG_SUBSET)


@pytest.fixture(scope="session")
def neanderthal_data() -> Path:
    return require_dir(NEANDERTHAL)


def run_snakemake(args, cwd=ROOT, check=True, timeout=1200, env=None) -> subprocess.CompletedProcess:
    """Run snakemake from the project root; output is captured and shown when it fails."""
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), *map(str, args)]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def dry_run(wd: Path, *args: str) -> list[dict]:
    """The jobs a dry run schedules: [{rule, wildcards: {..}, reason}], read from the per-job blocks."""
    out = run_snakemake(["--directory", wd, "-n", "--cores", "1", *args]).stdout
    if "Nothing to be done" in out:
        return []
    jobs, job = [], None
    for line in out.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line):
            job = {"rule": m.group(1), "wildcards": {}, "reason": ""}
            jobs.append(job)
        elif job is not None and (m := re.match(r"\s+(wildcards|reason): (.*)$", line)):
            key, value = m.groups()
            job[key] = dict(kv.split("=", 1) for kv in value.split(", ")) if key == "wildcards" else value
    # Cross-check with the "Job stats" table, so that a change of the block format cannot hide jobs.
    stats = out[out.index("Job stats:") :].splitlines()
    total = next(int(line.split()[1]) for line in stats if line.startswith("total"))
    assert len(jobs) == total, out
    return jobs


def counts(jobs: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for job in jobs:
        out[job["rule"]] = out.get(job["rule"], 0) + 1
    return out


def deep_merge(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = (
            deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def make_workdir(path: Path, overrides: dict | None = None, cohort_rows: list[dict] | None = None) -> Path:
    """A Snakemake working directory with config/config.yaml = the project's demo config merged with
    ``overrides`` and config/cohorts.tsv = the project's sheet or ``cohort_rows``. Run snakemake in it with
    ``run_snakemake([... , "--directory", path])`` so that results/ and resources/ stay inside it.

    (Overrides go through a config file, not ``--config``: Snakemake passes nested ``--config`` values
    as strings, which the schema then rejects.)"""
    import pandas as pd
    import yaml

    (path / "config").mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config = deep_merge(config, overrides or {})
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if cohort_rows is None:
        (path / "config" / "cohorts.tsv").write_text((ROOT / "config" / "cohorts.tsv").read_text())
    else:
        pd.DataFrame(cohort_rows).to_csv(path / "config" / "cohorts.tsv", sep="\t", index=False)
    return path


# A demo small enough for tests: 2 contigs of 400 kb, 12 samples per population.
TINY_DEMO = {"demo": {"samples_per_population": 12, "contig_length": 400_000}}
TINY_DEMO_COHORT = {
    "name": "demo",
    "vcf": "resources/demo/demo.{contig}.vcf.gz",
    "panel": "resources/demo/demo.panel",
    "contigs": "chr21,chr22",
    "label_columns": "pop,super_pop",
    "populations": "all",
    "predict_with": "",
}
# The held-out cohort simulated beside the demo (contigs named 21, 22 inside its VCFs), predicted by demo.
TINY_NEW_COHORT = {
    **TINY_DEMO_COHORT,
    "name": "demo_new",
    "vcf": "resources/demo/demo_new.{contig}.vcf.gz",
    "panel": "resources/demo/demo_new.panel",
    "predict_with": "demo",
}

# The whole pipeline at test size: TINY_DEMO plus small training settings for the later stages.
TINY_PIPELINE = deep_merge(
    TINY_DEMO,
    {
        "training": {"max_epochs": 4, "patience": 2},
        # the paper's image layout, as the defaults were before the sequence CAE: the shared tiny run covers
        # it, test_sequence_workflow.py the sequence CAE and test_demo_defaults.py the schema's defaults
        "representation": {"architecture": "image", "max_variants": 10000, "max_depth": 1},
        "clustering": {
            "k_max": 4,
            "k_sweep_epochs": 1,
            "training": {"max_epochs": 3},
            # the mixture preset (auto picks DEC at this size), and a per-level override of its keys, so that
            # the workflow tests run both CEC kernels and the override's wiring
            "preset": "mixture",
            "levels": {"pop": {"init": "kmeans", "kernel": "isotropic", "training": {"max_epochs": 2}}},
        },
        # the opt-in super_pop loss and a 2-member seed ensemble, so that the workflow tests run the rules'
        # wiring of them (an ensemble saved by train_classifier, loaded by predict)
        "classification": {"coarse_weight": 1.0, "ensemble": 2},
    },
)


@pytest.fixture(scope="session")
def full_demo(tmp_path_factory) -> Path:
    """One run of every target of the tiny demo, shared by the tests that inspect its outputs."""
    wd = make_workdir(
        tmp_path_factory.mktemp("full_demo"), TINY_PIPELINE, [TINY_DEMO_COHORT, TINY_NEW_COHORT]
    )
    run_snakemake(["--directory", wd, "--cores", "2"], timeout=1500)
    return wd
