"""PLINK input through the workflow: PLINK 1 and PLINK 2 file sets made by plink2 from the tiny demo's VCFs
give the demo's features exactly; a bad file set stops rule plink_to_vcf with one line naming the file."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from popcen.features import load_features
from tests.conftest import TINY_DEMO, TINY_DEMO_COHORT, dry_run, make_workdir, run_snakemake

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not installed"),
]
CONTIGS = ("chr21", "chr22")
# One PLINK 1 set per contig, named by its .bed; one PLINK 2 set for all contigs, named by its prefix.
BED = {**TINY_DEMO_COHORT, "name": "bed", "vcf": "plink/bed.{contig}.bed"}
PGEN = {**TINY_DEMO_COHORT, "name": "pgen", "vcf": "plink/all"}


def plink2(*args):
    subprocess.run(["plink2", *map(str, args)], check=True, capture_output=True)


def write_sheet(wd, rows):
    pd.DataFrame(rows).to_csv(wd / "config/cohorts.tsv", sep="\t", index=False)


@pytest.fixture(scope="module")
def plink_run(tmp_path_factory):
    wd = make_workdir(tmp_path_factory.mktemp("plink"), TINY_DEMO, [TINY_DEMO_COHORT])
    run_snakemake(["--directory", wd, "--cores", "2", "results/demo/features/variants.tsv"])
    vcfs = [wd / f"resources/demo/demo.{contig}.vcf.gz" for contig in CONTIGS]
    (wd / "plink").mkdir()
    for contig, vcf in zip(CONTIGS, vcfs, strict=True):
        # a .bed holds bi-allelic variants only: the multi-allelic records (which QC drops) stay out
        plink2("--vcf", vcf, "--max-alleles", "2", "--make-bed", "--out", wd / f"plink/bed.{contig}")
    subprocess.run(["bcftools", "concat", "-Oz", "-o", wd / "plink/all.vcf.gz", *vcfs], check=True)
    plink2("--vcf", wd / "plink/all.vcf.gz", "--make-pgen", "--out", wd / "plink/all")
    (wd / "plink/all.vcf.gz").unlink()  # the prefix names the PLINK 2 set, nothing else
    write_sheet(wd, [TINY_DEMO_COHORT, BED, PGEN])
    jobs = dry_run(wd, "results/bed/features/variants.tsv", "results/pgen/features/variants.tsv")
    run_snakemake(
        [
            "--directory",
            wd,
            "--cores",
            "2",
            "results/bed/features/variants.tsv",
            "results/pgen/features/variants.tsv",
        ]
    )
    return wd, jobs


def test_plink_cohorts_convert_one_contig_per_job(plink_run):
    wd, jobs = plink_run
    converted = sorted(
        (j["wildcards"]["cohort"], j["wildcards"]["contig"]) for j in jobs if j["rule"] == "plink_to_vcf"
    )
    assert converted == [(c, contig) for c in ("bed", "pgen") for contig in CONTIGS]
    # the converted VCFs are temporary: gone once vcf_to_zarr has read them
    assert not list(wd.glob("results/*/plink/*.vcf.gz"))
    log = (wd / "results/bed/logs/plink_to_vcf/chr21.log").read_text()
    assert "a .bim has no REF: A2 (6th column) is written as REF" in log and "--memory" in log


@pytest.mark.parametrize("cohort", ["bed", "pgen"])
def test_plink_input_gives_the_vcfs_features(plink_run, cohort):
    wd, _ = plink_run
    gn, variants, samples = load_features(wd / "results/demo/features")
    gn2, variants2, samples2 = load_features(wd / f"results/{cohort}/features")
    pd.testing.assert_frame_equal(samples2, samples)  # same samples, same labels
    pd.testing.assert_frame_equal(variants2, variants)  # same id, chrom (chr21), pos, ref, alt, AFs
    assert variants["chrom"].unique().tolist() == list(CONTIGS)
    np.testing.assert_array_equal(np.asarray(gn2[:]), np.asarray(gn[:]))  # same genotypes
    assert len(variants) > 50


def test_a_pgen_keeps_every_record_so_the_qc_tables_match(plink_run):
    wd, _ = plink_run
    for contig in CONTIGS:
        qc = {
            c: pd.read_csv(wd / f"results/{c}/qc/{contig}.variants.tsv.gz", sep="\t")
            for c in ("demo", "pgen")
        }
        pd.testing.assert_frame_equal(qc["pgen"], qc["demo"])
        assert (qc["demo"]["status"] == "multiallelic").any()
    with gzip.open(wd / "results/bed/qc/chr21.variants.tsv.gz", "rt") as fh:
        assert "multiallelic" not in fh.read()  # the .bed never held them


@pytest.mark.parametrize(
    ("row", "prepare", "message"),
    [
        (
            {**BED, "name": "nobim", "vcf": "bad/bed.{contig}.bed"},
            lambda wd: (wd / "bad/bed.chr22.bim").unlink(),
            "bad/bed.chr22.bim: not found: the PLINK 1 file set bad/bed.chr22 (.bed/.bim/.fam) needs all three "
            "files (only bed.chr22.bed, bed.chr22.fam there)",
        ),
        (
            {**BED, "name": "cut", "vcf": "bad/bed.{contig}"},
            lambda wd: (wd / "bad/bed.chr22.bed").write_bytes((wd / "bad/bed.chr22.bed").read_bytes()[:-100]),
            "bad/bed.chr22.bed: ",
        ),
        (
            {**PGEN, "name": "nocontig", "vcf": "bad/all.pgen", "contigs": "chr20,chr22"},
            lambda wd: None,
            "bad/all.pvar: contig chr20 has no variant in this file set (it holds 21, 22); check the cohort "
            "sheet's contigs",
        ),
    ],
)
def test_a_bad_file_set_stops_with_one_line(plink_run, tmp_path, row, prepare, message):
    wd, _ = plink_run
    bad = make_workdir(tmp_path, TINY_DEMO, [row])
    shutil.copytree(wd / "plink", bad / "bad")
    shutil.copytree(wd / "resources", bad / "resources")
    prepare(bad)
    contig = row["contigs"].split(",")[0] if row["name"] == "nocontig" else "chr22"
    target = f"results/{row['name']}/zarr/{contig}.zarr"
    proc = run_snakemake(["--directory", bad, "--cores", "1", target], check=False)
    assert proc.returncode != 0
    lines = [
        line for line in proc.stderr.splitlines() if line.startswith("popcen error in rule plink_to_vcf:")
    ]
    assert len(lines) == 1 and lines[0].startswith(f"popcen error in rule plink_to_vcf: {message}"), (
        proc.stderr[-3000:]
    )
    if row["name"] == "cut":
        assert lines[0].endswith(
            ": it is truncated (an interrupted copy?), or the .bim/.fam belong to another file set"
        )
    assert not list(bad.glob(f"results/{row['name']}/plink/*"))
    assert not (bad / target).exists()
