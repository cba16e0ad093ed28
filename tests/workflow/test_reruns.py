"""What a dry run (`snakemake -n`) schedules after a change: a new cohort, a changed parameter, and the
`--until`, `--forcerun` and `--allowed-rules` options, on the genotype stages of the tiny demo.

The demo is run once (module fixture, through the genotype targets); each test then edits the config or the
cohort sheet of that working directory (or moves an output aside), dry-runs, and puts everything back.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_DEMO, TINY_DEMO_COHORT, counts, dry_run, make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

CONTIGS = ["chr21", "chr22"]


def genotype_targets(cohort: str) -> list[str]:
    return [f"results/{cohort}/features/variants.tsv", f"results/{cohort}/qc/summary.tsv"]


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A working directory where the genotype stages of the demo cohort are complete."""
    wd = make_workdir(tmp_path_factory.mktemp("reruns"), TINY_DEMO, [TINY_DEMO_COHORT])
    run_snakemake(["--directory", wd, "--cores", "2", *genotype_targets("demo")])
    return wd


@pytest.fixture
def edit(done):
    """Edit config/config.yaml or config/cohorts.tsv of the finished run; restored afterwards."""
    saved = {name: (done / "config" / name).read_text() for name in ("config.yaml", "cohorts.tsv")}
    yield done
    for name, text in saved.items():
        (done / "config" / name).write_text(text)


def set_config(wd: Path, section: str, key: str, value) -> None:
    path = wd / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config.setdefault(section, {})[key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_nothing_to_do_after_a_complete_run(done):
    assert dry_run(done, *genotype_targets("demo")) == []


def test_a_new_cohort_runs_only_its_own_jobs(edit):
    # A second cohort on the same VCFs: two populations only.
    with open(edit / "config" / "cohorts.tsv", "a") as sheet:
        row = {**TINY_DEMO_COHORT, "name": "ceu_yri", "populations": "CEU,YRI"}
        sheet.write("\t".join(str(row[k]) for k in TINY_DEMO_COHORT) + "\n")
    jobs = dry_run(edit, *genotype_targets("demo"), *genotype_targets("ceu_yri"))
    assert counts(jobs) == {
        "vcf_to_zarr": 2,
        "variant_qc": 2,
        "ld_prune": 2,
        "qc_summary": 1,
        "assemble_features": 1,
    }
    assert all(job["wildcards"]["cohort"] == "ceu_yri" for job in jobs)
    assert {job["wildcards"].get("contig") for job in jobs} == {*CONTIGS, None}
    # The default target (rule all) picks the new cohort up too, and still schedules nothing of the
    # demo cohort's genotype stages.
    everything = dry_run(edit)
    genotype_rules = {"vcf_to_zarr", "variant_qc", "ld_prune", "qc_summary", "assemble_features"}
    assert {j["wildcards"]["cohort"] for j in everything if j["rule"] in genotype_rules} == {"ceu_yri"}


def test_changing_ld_r2_reruns_ld_prune_and_what_depends_on_it(edit):
    set_config(edit, "ld_prune", "r2", 0.3)
    jobs = dry_run(edit, *genotype_targets("demo"))
    assert counts(jobs) == {"ld_prune": 2, "assemble_features": 1, "qc_summary": 1}
    prune = [j for j in jobs if j["rule"] == "ld_prune"]
    assert all("Params have changed" in j["reason"] for j in prune), prune
    others = [j for j in jobs if j["rule"] != "ld_prune"]
    assert all("Params have changed" not in j["reason"] for j in others), others


def test_changing_a_qc_threshold_reruns_from_variant_qc(edit):
    set_config(edit, "qc", "min_maf", 0.05)
    assert counts(dry_run(edit, *genotype_targets("demo"))) == {
        "variant_qc": 2,
        "ld_prune": 2,
        "assemble_features": 1,
        "qc_summary": 1,
    }


def test_until_stops_at_the_named_rule(done, tmp_path):
    fresh = make_workdir(tmp_path, TINY_DEMO, [TINY_DEMO_COHORT])
    jobs = dry_run(fresh, "--until", "variant_qc", "--", *genotype_targets("demo"))
    assert counts(jobs) == {"simulate_demo_contig": 2, "demo_panel": 1, "vcf_to_zarr": 2, "variant_qc": 2}
    # In the finished run the same command has nothing to do.
    assert dry_run(done, "--until", "variant_qc", "--", *genotype_targets("demo")) == []


def test_forcerun_reruns_the_rule_and_everything_downstream(done):
    jobs = dry_run(done, "--forcerun", "vcf_to_zarr", "--", *genotype_targets("demo"))
    assert counts(jobs) == {
        "vcf_to_zarr": 2,
        "variant_qc": 2,
        "ld_prune": 2,
        "assemble_features": 1,
        "qc_summary": 1,
    }
    assert all("Forced execution" in j["reason"] for j in jobs if j["rule"] == "vcf_to_zarr")


def test_forcerun_with_until_reruns_only_that_rule(done):
    jobs = dry_run(done, "--forcerun", "ld_prune", "--until", "ld_prune", "--", *genotype_targets("demo"))
    assert counts(jobs) == {"ld_prune": 2}


def test_allowed_rules_limits_a_rerun(edit):
    # Both QC and LD parameters changed, but only the rules from LD pruning on are allowed to run:
    # variant_qc keeps its outputs although its params changed.
    set_config(edit, "qc", "min_maf", 0.05)
    set_config(edit, "ld_prune", "r2", 0.3)
    allowed = ["ld_prune", "assemble_features", "qc_summary"]
    jobs = dry_run(edit, "--allowed-rules", *allowed, "--", *genotype_targets("demo"))
    assert counts(jobs) == {"ld_prune": 2, "assemble_features": 1, "qc_summary": 1}
    # Without the restriction variant_qc reruns too.
    assert counts(dry_run(edit, *genotype_targets("demo")))["variant_qc"] == 2


@contextmanager
def set_aside(path: Path):
    """Move ``path`` away for the duration of the block (a rename keeps its mtime), then put it back."""
    backup = path.with_name(path.name + ".aside")
    shutil.move(path, backup)
    try:
        yield
    finally:
        shutil.move(backup, path)


def test_deleted_outputs(done):
    # A deleted intermediate (a contig's Zarr store) is not rebuilt while what was made from it is up to
    # date: Snakemake treats it like a temp file, so users may delete per-contig stores to save space.
    with set_aside(done / "results/demo/zarr/chr22.zarr"):
        assert dry_run(done, *genotype_targets("demo")) == []
        # ... until something downstream of it must run again: then the store is rebuilt for that contig.
        jobs = dry_run(done, "--forcerun", "variant_qc", "--", *genotype_targets("demo"))
        assert {(j["rule"], j["wildcards"].get("contig")) for j in jobs if j["rule"] == "vcf_to_zarr"} == {
            ("vcf_to_zarr", "chr22")
        }
    # A deleted target is remade by its own job only.
    with set_aside(done / "results/demo/qc/summary.tsv"):
        assert counts(dry_run(done, *genotype_targets("demo"))) == {"qc_summary": 1}
