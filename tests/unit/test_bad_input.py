"""Bad input: one clear error naming the file and the problem, and no output left behind."""

import gzip

import pytest

from popcen.errors import PopcenInputError
from popcen.panel import read_panel, select_samples
from popcen.vcf import read_header, vcf_to_zarr

from .test_qc import HEADER, RECORDS, write_vcf


def assert_clean_failure(excinfo, path, words):
    msg = str(excinfo.value)
    assert str(path) in msg and "\n" not in msg
    for w in words:
        assert w in msg


def test_missing_vcf(tmp_path):
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(tmp_path / "nope.vcf.gz", tmp_path / "out.zarr")
    assert_clean_failure(e, tmp_path / "nope.vcf.gz", ["not found"])
    assert not (tmp_path / "out.zarr").exists()


def test_truncated_gzip_leaves_no_store(tmp_path):
    # Enough records that the cut falls in the records, after an intact header.
    records = [(100 + i, f"r{i}", "A", "G", "0|1 0|0 1|1 0|0 0|1 0|0", "kept") for i in range(3000)]
    vcf = write_vcf(tmp_path / "full.vcf.gz", records=records, bgzf=False)
    data = vcf.read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(cut, tmp_path / "out.zarr")
    assert_clean_failure(e, cut, ["truncated or corrupt gzip"])
    assert not (tmp_path / "out.zarr").exists() and not (tmp_path / "out.zarr.tmp").exists()


def test_vcf_without_gt(tmp_path):
    header = HEADER.replace(
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
    )
    vcf = tmp_path / "nogt.vcf.gz"
    with gzip.open(vcf, "wt") as fh:
        fh.write(header + "chr1\t100\t.\tA\tG\t.\tPASS\t.\tDP\t3\t4\t5\t6\t7\t8\n")
    with pytest.raises(PopcenInputError) as e:
        read_header(vcf)
    assert_clean_failure(e, vcf, ["no GT"])


def test_duplicate_sample_ids_in_vcf(tmp_path):
    vcf = write_vcf(
        tmp_path / "dup.vcf.gz", records=RECORDS[:1], header=HEADER.replace("S6", "S1"), bgzf=False
    )
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(vcf, tmp_path / "out.zarr")
    assert_clean_failure(e, vcf, ["duplicate sample", "S1"])


def test_panel_without_required_column(tmp_path):
    panel = tmp_path / "panel.tsv"
    panel.write_text("sample\tpopulation\nS1\tA\n")
    with pytest.raises(PopcenInputError) as e:
        read_panel(panel, ["pop", "super_pop"])
    assert_clean_failure(e, panel, ["pop", "super_pop", "lacks required column"])


def test_duplicate_sample_ids_in_panel(tmp_path):
    panel = tmp_path / "panel.tsv"
    panel.write_text("sample pop\nS1 A\nS2 B\nS1 C\n")
    with pytest.raises(PopcenInputError) as e:
        read_panel(panel, ["pop"])
    assert_clean_failure(e, panel, ["duplicate sample", "S1"])


def test_no_sample_left_after_selection(tmp_path):
    panel = tmp_path / "panel.tsv"
    panel.write_text("sample pop\nS1 A\nS2 B\n")
    p = read_panel(panel, ["pop"])
    with pytest.raises(PopcenInputError) as e:
        select_samples(["S1", "S2"], p, "pop", ["ZZZ"], vcf_path="cohort.vcf.gz")
    assert_clean_failure(e, "cohort.vcf.gz", ["no sample left", "ZZZ"])
    with pytest.raises(PopcenInputError):
        select_samples(["X1", "X2"], p, "pop", None, vcf_path="cohort.vcf.gz")
