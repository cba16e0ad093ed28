"""PLINK input: file sets made by plink2 from a hand-written VCF convert back to the same Zarr store, and bad
file sets give one line naming the file."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import zarr

from popcen.cohorts import Cohorts
from popcen.errors import PopcenInputError
from popcen.plink import FileSet, file_set, memory_mb, normalise_code, output_chr, plink_to_vcf
from popcen.vcf import ZARR_FIELDS, vcf_to_zarr

pytestmark = pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not installed")

SAMPLES = [f"s{i}" for i in range(6)]
# Both contigs: a missing call, a monomorphic site, an alt homozygote; chr2 is shorter.
RECORDS = {
    "chr1": [(100, "A", "G"), (250, "C", "T"), (400, "G", "A"), (700, "T", "C"), (900, "A", "C")],
    "chr2": [(50, "G", "T"), (300, "C", "A"), (800, "T", "G")],
}


def write_vcf(path, contigs=("chr1", "chr2"), seed=1):
    """A BGZF VCF of RECORDS on ``contigs`` with random unphased genotypes, one missing call per contig."""
    rng = np.random.default_rng(seed)
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={c},length=100000>" for c in contigs]
    lines += [
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *SAMPLES]),
    ]
    for contig in contigs:
        for k, (pos, ref, alt) in enumerate(RECORDS[contig]):
            gts = [f"{a}/{b}" for a, b in np.sort(rng.integers(0, 2, size=(len(SAMPLES), 2)), axis=1)]
            if k == 1:
                gts[2] = "./."
            if k == 2:
                gts = ["0/0"] * len(SAMPLES)
            if k == 3:
                gts[0] = "1/1"
            lines.append(
                "\t".join([contig, str(pos), f"{contig}_{pos}", ref, alt, ".", "PASS", ".", "GT", *gts])
            )
    plain = path.with_name(path.name.removesuffix(".gz"))
    plain.write_text("\n".join(lines) + "\n")
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    return path


def make_set(vcf, prefix, kind, *extra):
    flag = "--make-bed" if kind == "plink1" else "--make-pgen"
    subprocess.run(
        ["plink2", "--vcf", str(vcf), flag, "--out", str(prefix), *extra], check=True, capture_output=True
    )
    return FileSet(kind, str(prefix))


def store(path):
    z = zarr.open_group(str(path), mode="r")
    return {name: z[name][:] for name in ZARR_FIELDS}


def assert_same(a, b):
    for name in ZARR_FIELDS:
        np.testing.assert_array_equal(store(a)[name], store(b)[name], err_msg=name)


@pytest.fixture
def vcf(tmp_path):
    return write_vcf(tmp_path / "cohort.vcf.gz")


@pytest.mark.parametrize("kind", ["plink1", "plink2"])
@pytest.mark.parametrize("contig", ["chr1", "chr2"])
def test_a_file_set_converts_to_the_vcfs_store(tmp_path, vcf, kind, contig):
    fs = make_set(vcf, tmp_path / "set", kind)
    out = tmp_path / f"{contig}.vcf.gz"
    info = plink_to_vcf(fs, contig, out, threads=2)
    assert (
        info.samples == SAMPLES
        and info.n_variants == 8
        and list(map(normalise_code, info.contigs)) == ["1", "2"]
    )
    vcf_to_zarr(out, tmp_path / "plink.zarr", contig=contig)
    vcf_to_zarr(vcf, tmp_path / "vcf.zarr", region=contig)
    assert_same(tmp_path / "plink.zarr", tmp_path / "vcf.zarr")
    assert set(store(tmp_path / "plink.zarr")["variants/CHROM"]) == {contig}
    assert [p.name for p in tmp_path.iterdir() if "plink2tmp" in p.name] == []


def test_chromosome_names_follow_the_cohort_sheet(tmp_path, vcf):
    fs = make_set(vcf, tmp_path / "set", "plink1")
    assert open(fs.variants).readline().split()[0] == "1"  # plink2 writes 1, not chr1, in a .bim
    plink_to_vcf(fs, "2", tmp_path / "bare.vcf.gz")
    vcf_to_zarr(tmp_path / "bare.vcf.gz", tmp_path / "bare.zarr", contig="2")
    assert set(store(tmp_path / "bare.zarr")["variants/CHROM"]) == {"2"}
    assert (output_chr("chrX"), output_chr("X"), output_chr("23")) == ("chrM", "MT", "26")
    assert normalise_code("chrX") == normalise_code("23") == "X" and normalise_code("chrM") == "MT"


def test_a_bim_has_no_ref_a2_is_taken_as_ref(tmp_path, vcf):
    """plink2 from a VCF writes REF as A2, so the round trip keeps REF; a file set whose A2 is the VCF's ALT
    (as PLINK 1.9 writes when A1, the minor allele, is the VCF's REF) comes back with REF/ALT swapped and the
    counts flipped: the documented behaviour."""
    made = make_set(vcf, tmp_path / "made", "plink1")
    bim = pd.read_csv(made.variants, sep="\t", header=None, dtype=str)
    assert bim.iloc[0, 4:].tolist() == ["G", "A"]  # A1 = ALT, A2 = REF of chr1:100 A>G
    bim[[1, 4]].to_csv(tmp_path / "alt.tsv", sep="\t", header=False, index=False)  # the old ALT as REF
    subprocess.run(
        ["plink2", "--bfile", made.prefix, "--ref-allele", "force", str(tmp_path / "alt.tsv"), "2", "1"]
        + ["--make-bed", "--out", str(tmp_path / "set")],
        check=True,
        capture_output=True,
    )
    fs = FileSet("plink1", str(tmp_path / "set"))
    assert pd.read_csv(fs.variants, sep="\t", header=None).iloc[0, 4:].tolist() == ["A", "G"]
    plink_to_vcf(fs, "chr1", tmp_path / "swapped.vcf.gz")
    vcf_to_zarr(tmp_path / "swapped.vcf.gz", tmp_path / "swapped.zarr")
    vcf_to_zarr(vcf, tmp_path / "vcf.zarr", region="chr1")
    a, b = store(tmp_path / "swapped.zarr"), store(tmp_path / "vcf.zarr")
    assert a["variants/REF"].tolist() == b["variants/ALT"].tolist()
    called = b["calldata/GT"].min(axis=2) >= 0
    np.testing.assert_array_equal(a["calldata/GT"].min(axis=2) >= 0, called)
    alt_counts = [np.where(called, store["calldata/GT"].sum(axis=2), -1) for store in (a, b)]
    np.testing.assert_array_equal(alt_counts[0], np.where(called, 2 - alt_counts[1], -1))


def test_a_per_contig_file_set(tmp_path, vcf):
    for contig in ("chr1", "chr2"):
        subprocess.run(
            ["bcftools", "view", "-r", contig, "-Oz", "-o", str(tmp_path / f"{contig}.vcf.gz"), str(vcf)],
            check=True,
        )
        fs = make_set(tmp_path / f"{contig}.vcf.gz", tmp_path / f"part.{contig}", "plink2")
        plink_to_vcf(fs, contig, tmp_path / f"out.{contig}.vcf.gz", whole=False)
    assert (tmp_path / "out.chr2.vcf.gz").exists()
    # the whole set named as one contig's: refused, naming the other contig
    whole = make_set(vcf, tmp_path / "whole", "plink2")
    with pytest.raises(PopcenInputError, match=r"whole\.pvar: holds contig\(s\) 2 besides chr1"):
        plink_to_vcf(whole, "chr1", tmp_path / "x.vcf.gz", whole=False)


# ------------------------------------------------------------------------------------------- bad sets
def one_line(exc) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("kind", "member"), [("plink1", ".bed"), ("plink1", ".bim"), ("plink1", ".fam"), ("plink2", ".psam")]
)
def test_a_missing_member_is_named(tmp_path, vcf, kind, member):
    fs = make_set(vcf, tmp_path / "set", kind)
    (tmp_path / f"set{member}").unlink()
    out = tmp_path / "out.vcf.gz"
    with pytest.raises(PopcenInputError) as exc:
        plink_to_vcf(fs, "chr1", out)
    assert one_line(exc).startswith(
        f"{tmp_path}/set{member}: not found: the {'PLINK 1' if kind == 'plink1' else 'PLINK 2'} file set"
    )
    assert not out.exists()


def test_a_bim_or_fam_of_another_length_than_the_bed(tmp_path, vcf):
    fs = make_set(vcf, tmp_path / "set", "plink1")
    bim = open(fs.variants).read()
    with open(fs.variants, "a") as fh:  # one variant more than the .bed holds
        fh.write(bim.splitlines()[-1].replace("800", "900") + "\n")
    with pytest.raises(PopcenInputError) as exc:
        plink_to_vcf(fs, "chr1", tmp_path / "out.vcf.gz")
    assert one_line(exc) == (
        f"{fs.genotypes}: 19 bytes hold 8 variants of set.fam's 6 samples, but set.bim lists 9: the .bim (or "
        "the .fam) belongs to another file set, or the .bed is truncated"
    )
    open(fs.variants, "w").write(bim)
    fam = open(fs.samples).read()
    with open(fs.samples, "a") as fh:  # 9 samples: 3 bytes per variant where the .bed has 2
        fh.write("".join(f"0\ts{i}\t0\t0\t0\t-9\n" for i in (7, 8, 9)))
    with pytest.raises(
        PopcenInputError, match=r"set\.bed: 19 bytes where set\.bim's 8 variants × set\.fam's 9 "
    ):
        plink_to_vcf(fs, "chr1", tmp_path / "out.vcf.gz")
    open(fs.samples, "w").write(fam)


def test_a_truncated_bed(tmp_path, vcf):
    fs = make_set(vcf, tmp_path / "set", "plink1")
    data = open(fs.genotypes, "rb").read()
    assert len(data) == 3 + 8 * 2  # 8 variants × ceil(6 / 4) bytes
    open(fs.genotypes, "wb").write(data[:-3])
    with pytest.raises(PopcenInputError) as exc:
        plink_to_vcf(fs, "chr1", tmp_path / "out.vcf.gz")
    assert (
        "set.bed: 16 bytes where set.bim's 8 variants × set.fam's 6 samples need 19: it is truncated"
        in one_line(exc)
    )
    open(fs.genotypes, "wb").write(b"##fileformat=VCF")
    with pytest.raises(PopcenInputError, match=r"set\.bed: not a PLINK \.bed"):
        plink_to_vcf(fs, "chr1", tmp_path / "out.vcf.gz")


def test_a_pgen_whose_pvar_or_body_does_not_fit(tmp_path, vcf):
    fs = make_set(vcf, tmp_path / "set", "plink2")
    pvar = open(fs.variants).read()
    open(fs.variants, "w").write(pvar.rstrip("\n").rsplit("\n", 1)[0] + "\n")  # one variant less
    with pytest.raises(PopcenInputError) as exc:
        plink_to_vcf(fs, "chr1", tmp_path / "out.vcf.gz")
    assert one_line(exc).endswith(
        "set.pgen: holds 8 variants × 6 samples, but set.pvar lists 7 variants and set.psam 6 samples: the "
        ".pvar/.psam belong to another file set"
    )
    open(fs.variants, "w").write(pvar)
    data = open(fs.genotypes, "rb").read()
    open(fs.genotypes, "wb").write(data[: len(data) // 2])  # the body cut: plink2 finds it
    with pytest.raises(PopcenInputError) as exc:
        plink_to_vcf(fs, "chr1", tmp_path / "out.vcf.gz")
    assert one_line(exc).startswith(f"{fs.genotypes}: plink2 could not read the PLINK 2 file set")
    assert "Error:" in str(exc.value) and not list(tmp_path.glob("out*"))


def test_a_contig_absent_from_the_set(tmp_path, vcf):
    fs = make_set(vcf, tmp_path / "set", "plink1")
    with pytest.raises(PopcenInputError) as exc:
        plink_to_vcf(fs, "chr3", tmp_path / "out.vcf.gz")
    assert one_line(exc) == (
        f"{fs.variants}: contig chr3 has no variant in this file set (it holds 1, 2); check the cohort sheet's contigs"
    )


def test_duplicate_iids(tmp_path, vcf):
    fs = make_set(vcf, tmp_path / "set", "plink1")
    fam = pd.read_csv(fs.samples, sep="\t", header=None, dtype=str)
    fam.iloc[1, :2] = ["fam2", "s0"]  # another family, the same IID
    fam.to_csv(fs.samples, sep="\t", header=False, index=False)
    with pytest.raises(
        PopcenInputError, match=r"set\.fam: duplicate IID\(s\) s0: popcen names samples by IID"
    ):
        plink_to_vcf(fs, "chr1", tmp_path / "out.vcf.gz")


# ------------------------------------------------------------------------------------- the cohort sheet
def test_what_a_cohort_sheet_entry_names(tmp_path, vcf):
    make_set(vcf, tmp_path / "p2", "plink2")
    make_set(vcf, tmp_path / "p1", "plink1")
    assert file_set(str(tmp_path / "p1.bed")) == FileSet("plink1", str(tmp_path / "p1"))
    assert file_set(str(tmp_path / "p2.pgen")) == FileSet("plink2", str(tmp_path / "p2"))
    assert file_set(str(tmp_path / "p2")) == FileSet("plink2", str(tmp_path / "p2"))
    assert file_set(str(tmp_path / "p1")) == FileSet("plink1", str(tmp_path / "p1"))
    assert file_set(str(vcf)) is None and file_set(str(tmp_path / "nothing")) is None
    assert file_set("missing.bed") == FileSet("plink1", "missing")  # named: a PLINK set, even if absent

    rows = [
        {"name": "v", "vcf": str(vcf), "contigs": "chr1,chr2"},
        {"name": "b", "vcf": str(tmp_path / "p1.bed"), "contigs": "chr1,chr2"},
        {"name": "p", "vcf": str(tmp_path / "p2"), "contigs": "chr1,chr2"},
        {"name": "pc", "vcf": str(tmp_path / "part.{contig}"), "contigs": "chr1,chr2"},
    ]
    make_set(vcf, tmp_path / "part.chr2", "plink2")  # only chr2's set is there: the cohort is PLINK 2 still
    cohorts = Cohorts(
        pd.DataFrame([{**r, "panel": "x", "label_columns": "pop", "populations": "all"} for r in rows])
    )
    assert [cohorts.input_format(c) for c in ("v", "b", "p", "pc")] == ["vcf", "plink1", "plink2", "plink2"]
    assert cohorts.plink("v", "chr1") is None
    assert cohorts.plink("pc", "chr1") == FileSet("plink2", str(tmp_path / "part.chr1"))
    assert cohorts.region("v", "chr1") == "chr1" and cohorts.region("b", "chr1") is None


def test_memory_follows_the_job_and_is_bounded():
    assert memory_mb(None) == 2000 and memory_mb(8000) == 6000 and memory_mb(500) == 640
