"""Real 1000 Genomes phase 3 (../shared/data/1kg_phase3_subset): all autosomes, plain gzip, 1,126 samples,
a panel of 2,504 rows. QC must account for every record, and its bi-allelic SNV count must agree with
bcftools'."""

import gzip
import subprocess

import pandas as pd
import pytest

from popcen.features import load_features
from tests.conftest import make_workdir, run_snakemake

pytestmark = [pytest.mark.realdata, pytest.mark.workflow]

AUTOSOMES = [str(i) for i in range(1, 23)]
# Statuses a bi-allelic SNV can get: kept, or dropped by a filter that applies after the allele checks.
SNV_STATUSES = {"kept", "duplicate_position", "low_call_rate", "low_mac", "low_maf"}


@pytest.fixture(scope="module")
def kg_run(kg_subset, tmp_path_factory):
    wd = make_workdir(
        tmp_path_factory.mktemp("kg"),
        {"qc": {"min_call_rate": 0.95, "min_mac": 1, "min_maf": 0.0}},
        [
            {
                "name": "kg",
                "vcf": str(kg_subset / "chr{contig}.vcf.gz"),
                "panel": str(kg_subset / "integrated_call_samples_v3.20130502.ALL.panel"),
                "contigs": "1-22",
                "label_columns": "pop,super_pop",
                "populations": "all",
            }
        ],
    )
    run_snakemake(
        ["--directory", wd, "--cores", "2", "results/kg/features/variants.tsv", "results/kg/qc/summary.tsv"],
        timeout=1500,
    )
    return wd


def bcftools_count(vcf, *args):
    out = subprocess.run(
        ["bcftools", "view", "-H", *args, str(vcf)], capture_output=True, text=True, check=True
    )
    return out.stdout.count("\n")


def test_qc_accounts_for_every_record_and_agrees_with_bcftools(kg_run, kg_subset):
    total_records = total_snvs = 0
    for contig in AUTOSOMES:
        vcf = kg_subset / f"chr{contig}.vcf.gz"
        qc = pd.read_csv(kg_run / f"results/kg/qc/{contig}.variants.tsv.gz", sep="\t", dtype={"chrom": str})
        n_records = sum(1 for line in gzip.open(vcf, "rt") if not line.startswith("#"))
        assert len(qc) == n_records, contig
        snvs = bcftools_count(vcf, "-m2", "-M2", "-v", "snps")
        assert qc["status"].isin(SNV_STATUSES).sum() == snvs, contig
        total_records += n_records
        total_snvs += snvs
    # The data README's figures.
    assert (total_records, total_snvs) == (24_640, 22_220)


def test_samples_are_panel_intersect_vcf(kg_run, kg_subset):
    samples = pd.read_csv(kg_run / "results/kg/qc/1.samples.tsv", sep="\t")
    assert len(samples) == 1126 and samples["pop"].nunique() == 12 and samples["super_pop"].nunique() == 5
    log = (kg_run / "results/kg/logs/variant_qc/1.log").read_text()
    assert "1126 samples kept" in log and f"{2504 - 1126} panel samples are not in the VCF" in log


def test_features_cover_all_autosomes(kg_run):
    gn, variants, samples = load_features(kg_run / "results/kg/features")
    assert gn.shape == (1126, len(variants))
    assert set(variants["chrom"].astype(str)) == set(AUTOSOMES)
    summary = pd.read_csv(kg_run / "results/kg/qc/summary.tsv", sep="\t", index_col=0)
    assert summary.loc["total", "records"] == 24_640
    assert summary.loc["total", "ld_pruned_kept"] == len(variants)
