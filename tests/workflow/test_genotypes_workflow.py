"""The demo config through assemble_features with snakemake, and what a user sees on bad input."""

import gzip
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr

from popcen.features import load_features
from popcen.qc import KEPT
from tests.conftest import TINY_DEMO, TINY_DEMO_COHORT, make_workdir, run_snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    wd = make_workdir(tmp_path_factory.mktemp("demo"), TINY_DEMO, [TINY_DEMO_COHORT])
    run_snakemake(
        [
            "--directory",
            wd,
            "--cores",
            "2",
            "results/demo/features/variants.tsv",
            "results/demo/qc/summary.tsv",
        ]
    )
    return wd


def test_dry_run_lists_per_contig_jobs(tmp_path):
    wd = make_workdir(tmp_path, TINY_DEMO, [TINY_DEMO_COHORT])
    out = run_snakemake(
        ["--directory", wd, "-n", "--cores", "1", "results/demo/features/variants.tsv"]
    ).stdout
    counts = dict(
        line.split()[:2]
        for line in out.splitlines()
        if line.split()[:1]
        and line.split()[0]
        in ("simulate_demo_contig", "vcf_to_zarr", "variant_qc", "ld_prune", "assemble_features")
    )
    assert counts == {
        "simulate_demo_contig": "2",
        "vcf_to_zarr": "2",
        "variant_qc": "2",
        "ld_prune": "2",
        "assemble_features": "1",
    }


def test_features_match_the_vcfs(demo_run):
    gn, variants, samples = load_features(demo_run / "results/demo/features")
    panel = pd.read_csv(demo_run / "resources/demo/demo.panel", sep="\t")
    assert samples["sample"].tolist() == panel["sample"].tolist()
    assert set(samples["pop"]) == {"YRI", "CEU", "CHB", "JPT"}
    assert gn.dtype == np.int8 and gn.shape == (len(samples), len(variants)) and gn.shape[1] > 100
    # Genome order: contigs in sheet order, positions increasing within each.
    assert variants["chrom"].unique().tolist() == ["chr21", "chr22"]
    for _, part in variants.groupby("chrom"):
        assert part["pos"].is_monotonic_increasing
    # Allele frequencies recomputed from the matrix, and per population.
    np.testing.assert_allclose(variants["af"], gn.sum(axis=0) / (2 * len(samples)), atol=1e-6)
    yri = (samples["pop"] == "YRI").to_numpy()
    np.testing.assert_allclose(variants["af_YRI"], gn[yri].sum(axis=0) / (2 * yri.sum()), atol=1e-6)
    # Spot-check genotypes against the VCF itself, read by bcftools (an independent parser).
    row = variants.iloc[len(variants) // 2]
    vcf = demo_run / f"resources/demo/demo.{row.chrom}.vcf.gz"
    gts = subprocess.run(
        ["bcftools", "query", "-r", f"{row.chrom}:{row.pos}", "-f", "[%GT\\t]\\n", str(vcf)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    want = [g.count("1") for g in gts]
    j = variants.index[(variants["chrom"] == row.chrom) & (variants["pos"] == row.pos)][0]
    assert gn[:, j].tolist() == want


def test_qc_tables_account_for_every_record(demo_run):
    for contig in ("chr21", "chr22"):
        vcf = demo_run / f"resources/demo/demo.{contig}.vcf.gz"
        n_records = sum(1 for line in gzip.open(vcf, "rt") if not line.startswith("#"))
        qc = pd.read_csv(demo_run / f"results/demo/qc/{contig}.variants.tsv.gz", sep="\t")
        assert len(qc) == n_records
        n_multi = sum(
            1 for line in gzip.open(vcf, "rt") if not line.startswith("#") and "," in line.split("\t")[4]
        )
        assert (qc["status"] == "multiallelic").sum() == n_multi
        kept = pd.read_csv(demo_run / f"results/demo/ld/{contig}.kept.tsv", sep="\t")
        assert set(kept["pos"]) <= set(qc.loc[qc["status"] == KEPT, "pos"])
    summary = pd.read_csv(demo_run / "results/demo/qc/summary.tsv", sep="\t", index_col=0)
    assert summary.loc["total", "records"] == summary.drop(index="total")["records"].sum()
    assert (demo_run / "results/demo/qc/summary.png").stat().st_size > 1000


def test_demo_is_deterministic(demo_run, tmp_path):
    wd = make_workdir(tmp_path, TINY_DEMO, [TINY_DEMO_COHORT])
    run_snakemake(["--directory", wd, "--cores", "1", "resources/demo/demo.chr22.vcf.gz"])
    a = gzip.open(demo_run / "resources/demo/demo.chr22.vcf.gz", "rt").read()
    b = gzip.open(wd / "resources/demo/demo.chr22.vcf.gz", "rt").read()
    assert a == b


@pytest.mark.parametrize(
    "vcf, dl, words",
    [
        ("${HOME}/demo.{contig}.vcf.gz", "resources/public", ["cohort demo: vcf", "holds '$'"]),
        ("resources/demo/demo.{contig}.bcf", "resources/public", ["is a BCF", "bcftools view -Oz -o"]),
        (TINY_DEMO_COHORT["vcf"], "dl {x}", ["config key downloads.dir:", "holds '{x}'"]),
    ],
)
def test_dollar_braces_or_bcf_in_a_path_stop_before_snakemake_reads_it(tmp_path, vcf, dl, words):
    """Before this check: Snakemake's `WildcardError ... 'HOME'` for ${HOME}, and 'not a VCF' for a BCF."""
    wd = make_workdir(tmp_path, {**TINY_DEMO, "downloads": {"dir": dl}}, [{**TINY_DEMO_COHORT, "vcf": vcf}])
    proc = run_snakemake(["--directory", wd, "-n", "--cores", "1"], check=False)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0 and all(w in out for w in words), out[-3000:]
    assert "WildcardError" not in out and not (wd / "results").exists()


def test_bad_config_stops_before_any_job(tmp_path):
    wd = make_workdir(tmp_path, {**TINY_DEMO, "qc": {"min_call_rate": 1.5}}, [TINY_DEMO_COHORT])
    proc = run_snakemake(["--directory", wd, "-n", "--cores", "1"], check=False)
    assert proc.returncode != 0
    assert "config key qc.min_call_rate" in proc.stderr + proc.stdout
    assert not (wd / "results").exists()
    cfg = yaml.safe_load((wd / "config/config.yaml").read_text())
    cfg["qc"] = {"min_call_rat": 0.9}
    (wd / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(["--directory", wd, "-n", "--cores", "1"], check=False)
    assert proc.returncode != 0 and "'min_call_rat' was unexpected" in proc.stderr + proc.stdout


def test_bad_panel_fails_with_one_line_and_no_partial_output(demo_run, tmp_path):
    wd = make_workdir(
        tmp_path,
        TINY_DEMO,
        [
            {
                **TINY_DEMO_COHORT,
                "name": "broken",
                "panel": "broken.panel",
                "vcf": str(demo_run / "resources/demo/demo.{contig}.vcf.gz"),
            }
        ],
    )
    (wd / "broken.panel").write_text("sample\tpopulation\nYRI_0001\tYRI\n")
    proc = run_snakemake(
        ["--directory", wd, "--cores", "1", "results/broken/qc/chr21.variants.tsv.gz"], check=False
    )
    assert proc.returncode != 0
    assert (
        "popcen error in rule variant_qc: broken.panel: panel lacks required column(s) pop, super_pop"
        in proc.stderr
    )
    assert not (wd / "results/broken/qc/chr21.variants.tsv.gz").exists()
    assert not (wd / "results/broken/qc/chr21.samples.tsv").exists()
    assert not (wd / "results/broken/qc/chr21.alt_counts.zarr").exists()


def test_missing_vcf_is_named_before_any_job(tmp_path):
    wd = make_workdir(
        tmp_path, TINY_DEMO, [{**TINY_DEMO_COHORT, "name": "lost", "vcf": "nowhere/{contig}.vcf.gz"}]
    )
    proc = run_snakemake(
        ["--directory", wd, "-n", "--cores", "1", "results/lost/qc/chr21.variants.tsv.gz"], check=False
    )
    assert proc.returncode != 0 and "nowhere/chr21.vcf.gz" in proc.stderr + proc.stdout


def test_zarr_store_is_scikit_allel_readable(demo_run):
    import allel

    store = zarr.open_group(str(demo_run / "results/demo/zarr/chr21.zarr"), mode="r")
    gt = allel.GenotypeChunkedArray(store["calldata/GT"])
    assert gt.shape[1] == 48 and gt.shape[0] == len(store["variants/POS"])


def test_heldout_cohort_is_an_independent_looking_vcf(demo_run):
    """demo_new: other individuals of the same populations, contigs without 'chr', ~5 % of the records
    missing and ~5 % with REF/ALT swapped relative to the demo's VCF of the same simulation."""
    demo_dir = demo_run / "resources/demo"

    def records(path):
        out = subprocess.run(
            ["bcftools", "query", "-f", "%CHROM\\t%POS\\t%REF\\t%ALT\\n", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return pd.DataFrame(
            [line.split("\t") for line in out.splitlines()], columns=["chrom", "pos", "ref", "alt"]
        )

    demo = records(demo_dir / "demo.chr21.vcf.gz")
    new = records(demo_dir / "demo_new.chr21.vcf.gz")
    assert set(new["chrom"]) == {"21"} and set(demo["chrom"]) == {"chr21"}
    merged = new.merge(demo, on="pos", suffixes=("_new", "_demo"))
    assert len(merged) == len(new)  # every new record is a site of the simulation
    assert 0.02 < 1 - len(new) / len(demo) < 0.09
    swapped = (merged["ref_new"] == merged["alt_demo"]) & (merged["alt_new"] == merged["ref_demo"])
    same = (merged["ref_new"] == merged["ref_demo"]) & (merged["alt_new"] == merged["alt_demo"])
    assert (swapped | same).all()
    assert 0.02 < swapped.mean() < 0.09
    panel = pd.read_csv(demo_dir / "demo.panel", sep="\t")
    new_panel = pd.read_csv(demo_dir / "demo_new.panel", sep="\t")
    assert not set(panel["sample"]) & set(new_panel["sample"])
    vcf_samples = subprocess.run(
        ["bcftools", "query", "-l", str(demo_dir / "demo_new.chr21.vcf.gz")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert vcf_samples == new_panel["sample"].tolist()
