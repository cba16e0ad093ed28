"""Variant QC on a hand-written VCF: every record's status, call rate and MAC are worked out by hand."""

import gzip
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import zarr

from popcen.panel import read_panel, select_samples
from popcen.qc import REASONS, summarise, variant_qc
from popcen.vcf import vcf_to_zarr

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=100000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\tS4\tS5\tS6
"""
# (pos, id, ref, alt, calls of S1..S6, expected status over S1..S5). S6 is not in the panel and is
# missing everywhere: were it counted, every call rate would drop below 1.
RECORDS = [
    (100, "rs1", "A", "G", "0|0 0|1 1|1 0|1 0|0 ./.", "kept"),  # AC 4 / AN 10
    (200, "rs2", "A", "G,T", "0|1 0|2 0|0 0|0 0|0 ./.", "multiallelic"),
    (300, "rs3", "AT", "A", "0|1 0|0 0|0 0|0 1|1 ./.", "indel"),
    (400, "rs4", "C", "<CN0>", "0|1 0|0 0|0 0|0 1|1 ./.", "symbolic"),
    (500, "rs5", "G", "A", "0|1 0|0 0|0 0|1 1|1 ./.", "duplicate_position"),
    (500, "rs6", "G", "T", "0|1 0|0 1|0 0|1 1|1 ./.", "duplicate_position"),
    (500, "rs7", "GT", "G", "0|1 0|0 1|0 0|1 1|1 ./.", "indel"),  # an indel does not make a dup
    (600, "rs8", "C", "T", "./. ./. 0|1 1|1 0|0 ./.", "low_call_rate"),  # 3/5 called
    (700, "rs9", "T", "C", "0|0 0|0 0|0 0|1 0|0 ./.", "low_mac"),  # MAC 1
    (800, "rs10", "G", "C", "0|1 ./. 1|1 0|0 0/1 ./.", "kept"),  # 4/5 called, AC 4 / AN 8
    (900, "rs11", "A", "C", "0|1 0|0 0|0 0|0 0|1 ./.", "low_maf"),  # MAC 2, MAF 0.2
    (1000, ".", "AC", "GT", "0|1 0|0 0|0 0|0 0|1 ./.", "mnp"),
    (1100, ".", "N", "A", "0|1 0|0 0|0 0|0 0|1 ./.", "non_acgt"),
    (1200, ".", "A", ".", "0|0 0|0 0|0 0|0 0|0 ./.", "no_alt"),
    (1300, ".", "T", "A", "1|1 1|1 1|1 1|1 1|1 ./.", "low_mac"),  # all alt: MAC 0
]
PANEL = "sample\tpop\tsuper_pop\nS1\tA\tX\nS2\tA\tX\nS3\tB\tX\nS4\tB\tY\nS5\tC\tY\nS9\tC\tY\n"
THRESHOLDS = {"min_call_rate": 0.8, "min_mac": 2, "min_maf": 0.25}


def write_vcf(path, records=RECORDS, header=HEADER, bgzf=True):
    lines = [header]
    for pos, vid, ref, alt, calls, _ in records:
        lines.append(
            "\t".join(["chr1", str(pos), vid, ref, alt, ".", "PASS", ".", "GT", *calls.split()]) + "\n"
        )
    text = "".join(lines)
    if bgzf:
        plain = path.with_suffix("")
        plain.write_text(text)
        subprocess.run(["bgzip", "-f", str(plain)], check=True)
        subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    else:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    return path


def run_qc(tmp_path, bgzf=True, populations=None):
    vcf = write_vcf(tmp_path / "hand.vcf.gz", bgzf=bgzf)
    (tmp_path / "panel.tsv").write_text(PANEL)
    vcf_to_zarr(vcf, tmp_path / "hand.zarr")
    store = zarr.open_group(str(tmp_path / "hand.zarr"), mode="r")
    panel = read_panel(tmp_path / "panel.tsv", ["pop", "super_pop"])
    sel = select_samples(store["samples"][:], panel, "pop", populations)
    return sel, variant_qc(store, sel.vcf_index, **THRESHOLDS)


@pytest.mark.parametrize("bgzf", [True, False], ids=["bgzf", "plain-gzip"])
def test_every_record_gets_its_hand_derived_status(tmp_path, bgzf):
    sel, table = run_qc(tmp_path, bgzf=bgzf)
    assert sel.samples["sample"].tolist() == ["S1", "S2", "S3", "S4", "S5"]
    assert (sel.not_in_panel, sel.not_in_vcf, sel.population_not_selected) == (1, 1, 0)
    assert len(table) == len(RECORDS)  # every record accounted for
    assert table["status"].tolist() == [r[-1] for r in RECORDS]
    assert table["pos"].tolist() == [r[0] for r in RECORDS]


def test_call_rate_and_allele_counts(tmp_path):
    _, table = run_qc(tmp_path)
    by_id = table.set_index("id")
    assert by_id.loc["rs1", ["call_rate", "mac", "maf"]].tolist() == [1.0, 4, 0.4]
    assert by_id.loc["rs10", ["call_rate", "mac", "maf"]].tolist() == [0.8, 4, 0.5]
    assert by_id.loc["rs8", "call_rate"] == pytest.approx(0.6)
    assert by_id.loc["rs9", "mac"] == 1
    assert by_id.loc["rs11", "maf"] == pytest.approx(0.2)


def test_population_selection_changes_the_samples_and_the_counts(tmp_path):
    sel, table = run_qc(tmp_path, populations=["A", "B"])
    assert sel.samples["sample"].tolist() == ["S1", "S2", "S3", "S4"]
    assert sel.population_not_selected == 1
    # rs1 over S1..S4: 0|0 0|1 1|1 0|1 -> AC 4 of 8: MAF 0.5
    assert table.set_index("id").loc["rs1", "maf"] == 0.5


def test_summary_lists_every_reason(tmp_path):
    _, table = run_qc(tmp_path)
    counts = summarise(table)
    assert list(counts.index) == ["kept", *REASONS]
    assert counts.sum() == len(RECORDS)
    assert counts["kept"] == 2 and counts["duplicate_position"] == 2 and counts["low_mac"] == 2


def test_region_of_a_single_bgzf_vcf_with_or_without_chr(tmp_path):
    vcf = write_vcf(tmp_path / "hand.vcf.gz")
    for name in ("chr1", "1"):
        out = tmp_path / f"{name}.zarr"
        vcf_to_zarr(vcf, out, region=name)
        assert len(zarr.open_group(str(out), mode="r")["variants/POS"]) == len(RECORDS)
    shutil.rmtree(tmp_path / "1.zarr")
    assert np.array_equal(
        pd.Series([r[0] for r in RECORDS]).to_numpy(),
        zarr.open_group(str(tmp_path / "chr1.zarr"), mode="r")["variants/POS"][:],
    )


def test_alt_counts_by_table_match_the_definition():
    from popcen.zarrio import alt_counts, read_gt

    rng = np.random.default_rng(5)
    gt = rng.integers(-1, 4, size=(300, 40, 2)).astype(np.int8)
    want = np.where((gt < 0).any(axis=2), -1, (gt > 0).sum(axis=2))
    np.testing.assert_array_equal(alt_counts(gt), want)
    # Non-contiguous input (a column subset) and the generic path (ploidy 3) give the same definition.
    np.testing.assert_array_equal(alt_counts(gt[:, ::3]), want[:, ::3])
    gt3 = rng.integers(-1, 2, size=(50, 7, 3)).astype(np.int8)
    np.testing.assert_array_equal(alt_counts(gt3), np.where((gt3 < 0).any(axis=2), -1, (gt3 > 0).sum(axis=2)))
    cols = np.array([5, 1, 30])
    np.testing.assert_array_equal(read_gt(gt, 10, 20, cols), gt[10:20][:, cols])


def test_compiled_counts_match_alt_counts_and_call_stats():
    """The one-pass kernel QC uses gives what the definitions give, on any row / column selection."""
    from popcen.qc import alt_counts, as_calls, call_stats, diploid_counts

    rng = np.random.default_rng(11)
    gt = rng.integers(-1, 4, size=(200, 70, 2)).astype(np.int8)  # alleles 2, 3 count as alt too
    for rows, cols in ((np.arange(200), np.arange(70)), (np.array([3, 50, 199]), np.array([69, 0, 5, 5]))):
        gn, n_called, alt_sum = diploid_counts(as_calls(gt), rows, cols)
        want = np.where((gt < 0).any(axis=2), -1, (gt > 0).sum(axis=2))[rows][:, cols]
        np.testing.assert_array_equal(gn, want)
        np.testing.assert_array_equal(n_called, (want >= 0).sum(axis=1))
        np.testing.assert_array_equal(alt_sum, np.where(want >= 0, want, 0).sum(axis=1))
        np.testing.assert_array_equal(gn, alt_counts(gt[rows][:, cols]))
    call_rate, mac, maf = call_stats(gn)
    np.testing.assert_allclose(call_rate, n_called / 4)
    assert np.all(mac <= n_called)  # MAC of diploid calls is at most the number of called samples
