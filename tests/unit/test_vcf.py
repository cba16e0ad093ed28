"""VCF -> Zarr: the numpy fast path and its bgzip/tabix streams write what scikit-allel writes."""

import subprocess

import numpy as np
import pytest
import zarr

from popcen.errors import PopcenInputError
from popcen.vcf import ZARR_FIELDS, vcf_to_zarr
from popcen.vcfcheck import BGZF_EOF


def write_vcf(path, records, n_samples=12, seed=0):
    """BGZF VCF + tabix index with random phased genotypes; records are (pos, ref, alt)."""
    rng = np.random.default_rng(seed)
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr1,length=10000000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
            + [f"s{i}" for i in range(n_samples)]
        ),
    ]
    for pos, ref, alt in records:
        gts = [f"{a}|{b}" for a, b in rng.integers(0, 2, size=(n_samples, 2))]
        lines.append("\t".join(["chr1", str(pos), f"v{pos}", ref, alt, ".", "PASS", ".", "GT", *gts]))
    plain = path.with_suffix("")
    plain.write_text("\n".join(lines) + "\n")
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    return path


def read_store(path):
    z = zarr.open_group(str(path), mode="r")
    return {name: z[name][:] for name in ZARR_FIELDS}


def assert_same_store(a, b):
    sa, sb = read_store(a), read_store(b)
    for name in ZARR_FIELDS:
        np.testing.assert_array_equal(sa[name], sb[name], err_msg=name)


def test_threads_and_regions_give_the_single_process_store(tmp_path):
    records = [(p, "C", "T") for p in range(100, 400_000, 80)] + [(400_100, "ACGT", "A")]
    vcf = write_vcf(tmp_path / "big.vcf.gz", records, n_samples=40)
    vcf_to_zarr(vcf, tmp_path / "one.zarr")
    vcf_to_zarr(vcf, tmp_path / "two.zarr", threads=2)
    vcf_to_zarr(vcf, tmp_path / "region.zarr", region="chr1", threads=2)
    assert_same_store(tmp_path / "one.zarr", tmp_path / "two.zarr")
    assert_same_store(tmp_path / "one.zarr", tmp_path / "region.zarr")
    assert len(read_store(tmp_path / "two.zarr")["variants/POS"]) == len(records)
    assert not list(tmp_path.glob("*.tmp*"))


def test_truncated_gzip_through_bgzip_is_a_clean_error(tmp_path):
    records = [(p, "C", "T") for p in range(100, 400_000, 80)]
    vcf = write_vcf(tmp_path / "big.vcf.gz", records, n_samples=40)
    cut = tmp_path / "cut.vcf.gz"
    data = vcf.read_bytes()
    # Cut inside a block, the EOF marker put back: bgzip itself must find the damage.
    cut.write_bytes(data[: len(data) * 2 // 3] + BGZF_EOF)
    with pytest.raises(PopcenInputError, match="truncated or corrupt gzip"):
        vcf_to_zarr(cut, tmp_path / "cut.zarr", threads=2)
    assert not list(tmp_path.glob("cut.zarr*"))


def test_an_empty_region_is_an_error(tmp_path):
    vcf = write_vcf(tmp_path / "sparse.vcf.gz", [(5, "A", "C"), (5_000_000, "G", "T")])
    with pytest.raises(
        PopcenInputError, match=r"contig chr9 has no record in this file \(its index lists chr1\)"
    ):
        vcf_to_zarr(vcf, tmp_path / "none.zarr", region="chr9", threads=2)
    assert not list(tmp_path.glob("none.zarr*"))


def test_a_region_without_contig_lines_takes_the_index_names(tmp_path):
    """Records named '1' and no ##contig line: contig chr1 is read through the index's own name."""
    vcf = write_vcf(tmp_path / "named.vcf.gz", [(100, "A", "C"), (200, "G", "T")], n_samples=4)
    plain = tmp_path / "bare.vcf"
    text = subprocess.run(["bgzip", "-dc", str(vcf)], capture_output=True, text=True, check=True).stdout
    lines = [ln.replace("chr1\t", "1\t", 1) for ln in text.splitlines() if not ln.startswith("##contig")]
    plain.write_text("\n".join(lines) + "\n")
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", f"{plain}.gz"], check=True)
    vcf_to_zarr(f"{plain}.gz", tmp_path / "bare.zarr", region="chr1")
    np.testing.assert_array_equal(read_store(tmp_path / "bare.zarr")["variants/POS"], [100, 200])


def allel_reference(vcf, out):
    """The store scikit-allel's own parser writes (what the fast path must reproduce)."""
    from popcen.vcf import _allel_to_zarr

    _allel_to_zarr(str(vcf), out, None, 65536)
    return out


def assert_same_layout(a, b):
    za, zb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    for name in ZARR_FIELDS:
        x, y = za[name], zb[name]
        assert (x.shape, x.dtype, x.chunks, x.compressor, x.filters, dict(x.attrs)) == (
            y.shape,
            y.dtype,
            y.chunks,
            y.compressor,
            y.filters,
            dict(y.attrs),
        ), name


def test_fast_path_writes_what_scikit_allel_writes(tmp_path):
    from tests.unit.test_qc import write_vcf as write_hand_vcf

    # Multi-allelic, symbolic, '*', '.' ALT, '.' IDs, missing and unphased calls, several chunks.
    hand = write_hand_vcf(tmp_path / "hand.vcf.gz")
    rng = np.random.default_rng(3)
    lines = [
        "##fileformat=VCFv4.2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\tc",
    ]
    for i in range(300):
        alt = ["T", "G,C", ".", "<DEL>", "*", "TA"][i % 6]
        calls = ["".join(x) for x in rng.choice(list("0123."), size=(3, 2))]
        calls = [f"{c[0]}{'|/'[i % 2]}{c[1]}" for c in calls]
        lines.append(
            "\t".join(
                [
                    "2",
                    str(10 + i),
                    "." if i % 3 else (f"id{i}" if i % 7 else f"é{i}"),
                    "A",
                    alt,
                    "50",
                    "PASS",
                    "DP=3",
                    "GT",
                    *calls,
                ]
            )
        )
    many = tmp_path / "many.vcf"
    many.write_text("\n".join(lines) + "\n")
    from popcen.vcf import _allel_to_zarr, _open_vcf, _stream_to_zarr
    from popcen.vcffast import gt_only_to_zarr

    with _open_vcf(many) as fh:  # the fast path must be the one taken here
        assert gt_only_to_zarr(
            fh,
            tmp_path / "probe.zarr",
            64,
            ZARR_FIELDS[1:],
            lambda src, path: _allel_to_zarr(src, path, None, 64),
        )
    for vcf, chunk in ((hand, 65536), (many, 65536), (many, 64)):
        ref, fast = tmp_path / f"ref{chunk}.zarr", tmp_path / f"fast{chunk}.zarr"
        _allel_to_zarr(str(vcf), ref, None, chunk)
        _stream_to_zarr(lambda vcf=vcf: _open_vcf(vcf), fast, chunk)
        assert_same_layout(ref, fast)
        assert_same_store(ref, fast)
        for p in (ref, fast):
            subprocess.run(["rm", "-rf", str(p)], check=True)


@pytest.mark.parametrize(
    "record",
    [
        "1\t5\t.\tA\tG\t.\t.\t.\tGT:DP\t0|1:3\t1|1:4",  # another FORMAT field
        "1\t5\t.\tA\tG\t.\t.\t.\tGT\t0\t1",  # haploid calls
        "1\t5\t.\tA\tG\t.\t.\t.\tGT\t0|10\t1|1",  # a two-digit allele
        "1\t5\t.\tA\tG\t.\t.\t.\tGT\t0|1\t1-1",  # not a genotype separator
        "1\t5\t.\tA\tG\t.\t.\t.\tGT\t0|1\t1|1\r",  # CRLF line end
    ],
)
def test_records_the_fast_path_does_not_handle_go_through_scikit_allel(tmp_path, record):
    from popcen.vcf import _allel_to_zarr
    from popcen.vcffast import gt_only_to_zarr

    text = (
        '##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tx\ty\n"
        "1\t4\t.\tC\tT\t.\t.\t.\tGT\t0|0\t0|1\n" + record + "\n"
    )
    vcf = tmp_path / "odd.vcf"
    vcf.write_text(text)
    with open(vcf, "rb") as fh:
        template = lambda src, path: _allel_to_zarr(src, path, None, 16)  # noqa: E731
        assert gt_only_to_zarr(fh, tmp_path / "f.zarr", 16, ZARR_FIELDS[1:], template) is False
    assert not (tmp_path / "f.zarr").exists()
    vcf_to_zarr(vcf, tmp_path / "odd.zarr")
    # scikit-allel's own store, but for haploid calls: read as hemizygous diploid ones (PloidyStream)
    reference = tmp_path / "reference.vcf"
    reference.write_text(text.replace("GT\t0\t1\n", "GT\t0/0\t1/1\n"))
    assert_same_store(allel_reference(reference, tmp_path / "ref.zarr"), tmp_path / "odd.zarr")


@pytest.mark.parametrize("block", [64, 5000])
def test_small_read_buffers_give_the_same_store(tmp_path, monkeypatch, block):
    # 64 bytes: shorter than a header line and a record (the buffer grows); 5000: lines split across reads.
    import popcen.vcffast

    records = [(p, "C", "T") for p in range(100, 40_000, 80)] + [(40_100, "ACGT", "A,AT")]
    vcf = write_vcf(tmp_path / "x.vcf.gz", records, n_samples=40)
    vcf_to_zarr(vcf, tmp_path / "default.zarr")
    monkeypatch.setattr(popcen.vcffast, "_BLOCK", block)
    vcf_to_zarr(vcf, tmp_path / "small.zarr", threads=2)
    assert_same_store(tmp_path / "default.zarr", tmp_path / "small.zarr")
    assert_same_store(allel_reference(vcf, tmp_path / "ref.zarr"), tmp_path / "small.zarr")


# Bad records: each stops the conversion with one line naming file:line, in the fast path and in
# scikit-allel's alike, and leaves no store. The hand VCF has 4 header lines: record i is on line 5 + i.
BAD_HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tx\ty\tz\n"
)


def bad_vcf(path, records, fmt):
    """Records are (chrom, pos, calls); ``fmt`` 'GT' gives the fast path's records, 'GT:DP' scikit-allel's."""
    lines = []
    for chrom, pos, calls in records:
        calls = [c if fmt == "GT" or not c else f"{c}:7" for c in calls]
        lines.append("\t".join([chrom, str(pos), ".", "A", "G", ".", "PASS", ".", fmt, *calls]))
    path.write_text(BAD_HEADER + "\n".join(lines) + "\n")
    return path


GOOD = ["0|1", "1|1", "0|0"]


@pytest.mark.parametrize("fmt", ["GT", "GT:DP"], ids=["fast", "scikit-allel"])
@pytest.mark.parametrize(
    "bad, words",
    [
        (("chr1", 300, ["0|1"]), ["10 columns where the header has 12", "cut or malformed"]),
        (("chr1", 300, [*GOOD, "0|1"]), ["13 columns where the header has 12", "fix or remove"]),
        (("chr1", 300, ["0|1", "", "0|0"]), ["column 11 is empty", "fix or remove"]),
        (("chr1", 0, GOOD), ["POS '0' is not an integer from 1 to 2147483647", "fix or remove"]),
        (("chr1", "ABC", GOOD), ["POS 'ABC' is not an integer from 1", "fix or remove"]),
        (("chr1", "1O6", GOOD), ["POS '1O6' is not an integer from 1", "fix or remove"]),
        (("chr1", 2_147_483_648, GOOD), ["POS '2147483648' is not an integer from 1"]),
        (("chr2", 300, GOOD), ["CHROM 'chr2' is not this job's contig 'chr1'", "its own VCF"]),
        (("chr1", 150, GOOD), ["POS 150 comes after POS 200", "not sorted", "bcftools sort"]),
    ],
    ids=[
        "cut",
        "extra-call",
        "empty-call",
        "pos-0",
        "pos-ABC",
        "pos-1O6",
        "pos-too-big",
        "other-chrom",
        "unsorted",
    ],
)
def test_a_bad_record_stops_the_conversion_with_its_line(tmp_path, monkeypatch, fmt, bad, words):
    import popcen.vcf

    records = [("chr1", 100, GOOD), ("chr1", 200, GOOD), bad, ("chr1", 400, GOOD)]
    vcf = bad_vcf(tmp_path / "bad.vcf", records, fmt)
    if fmt == "GT":  # the fast path must be the one that stops it: scikit-allel's reader is not reached
        monkeypatch.setattr(popcen.vcf, "CheckedStream", lambda *a: pytest.fail("scikit-allel was used"))
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(vcf, tmp_path / "out.zarr", contig="chr1")
    msg = str(e.value)
    assert msg.startswith(f"{vcf}:7: ") and "\n" not in msg  # the third record is on line 4 + 3
    for w in words:
        assert w in msg
    assert not list(tmp_path.glob("out.zarr*"))


@pytest.mark.parametrize("fmt", ["GT", "GT:DP"], ids=["fast", "scikit-allel"])
def test_a_garbage_line_and_a_cut_last_line_are_refused(tmp_path, fmt):
    vcf = bad_vcf(tmp_path / "bad.vcf", [("chr1", 100, GOOD)], fmt)
    vcf.write_text(vcf.read_text() + "this is not a record\n")
    with pytest.raises(PopcenInputError, match=r"bad\.vcf:6: 1 column where the header has 12"):
        vcf_to_zarr(vcf, tmp_path / "out.zarr")
    text = bad_vcf(tmp_path / "cut.vcf", [("chr1", 100, GOOD), ("chr1", 200, GOOD)], fmt).read_text()
    (tmp_path / "cut.vcf").write_text(text[: text.rindex("\tPASS")])  # chr1 200 . A G .
    with pytest.raises(PopcenInputError, match=r"cut\.vcf:6: 6 columns where the header has 12"):
        vcf_to_zarr(tmp_path / "cut.vcf", tmp_path / "out.zarr")
    assert not list(tmp_path.glob("out.zarr*"))


def test_the_line_number_counts_blank_lines_and_earlier_blocks(tmp_path, monkeypatch):
    import popcen.vcffast

    records = [("chr1", 100 + i, GOOD) for i in range(50)] + [("chr1", 10, GOOD)]
    vcf = bad_vcf(tmp_path / "bad.vcf", records, "GT")
    lines = vcf.read_text().split("\n")
    lines.insert(10, "")  # a blank line before the unsorted record: it is on line 4 + 51 + 1
    vcf.write_text("\n".join(lines))
    monkeypatch.setattr(popcen.vcffast, "_BLOCK", 256)  # many blocks
    with pytest.raises(PopcenInputError, match=r"bad\.vcf:56: POS 10 comes after POS 149"):
        vcf_to_zarr(vcf, tmp_path / "out.zarr", threads=2)


@pytest.mark.parametrize("fmt", ["GT", "GT:DP"], ids=["fast", "scikit-allel"])
def test_chr_prefix_is_the_same_contig_and_equal_positions_are_sorted(tmp_path, fmt):
    vcf = bad_vcf(tmp_path / "ok.vcf", [("20", 100, GOOD), ("20", 100, GOOD), ("20", 101, GOOD)], fmt)
    vcf_to_zarr(vcf, tmp_path / "out.zarr", contig="chr20")
    assert read_store(tmp_path / "out.zarr")["variants/POS"].tolist() == [100, 100, 101]


def bgzf_blocks(data: bytes) -> list[int]:
    """End offsets of the BGZF blocks of a file (BSIZE, bytes 16-17 of each block, is its size - 1)."""
    ends, at = [], 0
    while at < len(data):
        at += int.from_bytes(data[at + 16 : at + 18], "little") + 1
        ends.append(at)
    return ends


@pytest.mark.parametrize("threads", [1, 2])
def test_a_bgzf_file_cut_at_a_block_boundary_is_refused(tmp_path, threads):
    records = [(p, "C", "T") for p in range(100, 400_000, 80)]
    vcf = write_vcf(tmp_path / "full.vcf.gz", records, n_samples=40)
    data = vcf.read_bytes()
    ends = bgzf_blocks(data)
    assert ends[-1] == len(data) and len(ends) > 3 and data[ends[-2] :] == BGZF_EOF
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: ends[len(ends) // 2]])  # whole blocks: gzip reads it as a complete file
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(cut, tmp_path / "out.zarr", threads=threads)
    assert str(e.value) == (
        f"{cut}: BGZF file has no end-of-file marker: it is truncated (an interrupted download or copy?); "
        "copy or download it again"
    )
    assert not list(tmp_path.glob("out.zarr*"))


def test_the_rule_checks_the_jobs_contig_and_a_region_numbers_its_records(tmp_path):
    from popcen.pipeline import call, genotypes

    vcf = bad_vcf(
        tmp_path / "c.vcf", [("chr1", 100, GOOD), ("chr1", 200, ["0|1"]), ("chr1", 300, GOOD)], "GT"
    )
    with pytest.raises(PopcenInputError, match=r"c\.vcf:5: CHROM 'chr1' is not this job's contig 'chr2'"):
        call(
            genotypes.vcf_to_zarr,
            input={"vcf": vcf},
            output={"zarr": tmp_path / "out.zarr"},
            params={"region": None},
            wildcards={"contig": "chr2"},
        )
    subprocess.run(["bgzip", "-f", str(vcf)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", f"{vcf}.gz"], check=True)
    # Through tabix the file's line numbers are unknown: the record's number within the region is given.
    with pytest.raises(PopcenInputError, match=r"c\.vcf\.gz \(record 2 of region chr1\): 10 columns where"):
        vcf_to_zarr(f"{vcf}.gz", tmp_path / "out.zarr", region="chr1")
    assert not list(tmp_path.glob("out.zarr*"))


# ------------------------------------------------------------------------------------------ ploidy
_X_HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=chrX,length=1000000>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tM1\tM2\tF1\tF2\n"
)


def _x_vcf(path, rows, fmt="GT"):
    body = "".join(
        f"chrX\t{pos}\tv{pos}\tA\tG\t.\tPASS\t.\t{fmt}\t" + "\t".join(calls) + "\n" for pos, calls in rows
    )
    path.write_text(_X_HEADER + body)
    subprocess.run(["bgzip", "-f", str(path)], check=True)
    return path.with_name(path.name + ".gz")


def _alt_counts(store_path):
    from popcen.zarrio import alt_counts

    return alt_counts(zarr.open_group(str(store_path), mode="r")["calldata/GT"][:]).tolist()


# Males haploid, females diploid (mixed ploidy in every record), and the PAR where males are diploid. By the
# hemizygous convention a haploid alt counts 2 and a haploid ref 0; '.' and a half-missing '1/.' are missing.
CHRX = [
    (100, ["1", "0", "0/1", "1/1"]),
    (200, ["0", "1", "0|0", "0|1"]),
    (300, [".", "1", "1/.", "0/0"]),
    (400, ["0/1", "1|1", "0/0", "./."]),  # PAR: all diploid (the fast path's kind of record)
]
EXPECTED = [[2, 0, 1, 2], [0, 2, 0, 1], [-1, 2, -1, 0], [1, 2, 0, -1]]


def test_haploid_calls_are_read_as_hemizygous_calls(tmp_path):
    vcf = _x_vcf(tmp_path / "x.vcf", CHRX)
    vcf_to_zarr(vcf, tmp_path / "x.zarr")
    assert _alt_counts(tmp_path / "x.zarr") == EXPECTED


def test_haploid_calls_with_other_format_fields(tmp_path):
    rows = [(pos, [f"{c}:7" for c in calls]) for pos, calls in CHRX]
    vcf = _x_vcf(tmp_path / "x.vcf", rows, fmt="GT:DP")
    vcf_to_zarr(vcf, tmp_path / "x.zarr")
    assert _alt_counts(tmp_path / "x.zarr") == EXPECTED


def test_diploid_records_read_the_same_by_both_parsers_beside_haploid_ones(tmp_path):
    # The all-diploid record is read by the fast path in a file of such records, by scikit-allel's after a
    # haploid record sends the file there: the same counts.
    fast = _x_vcf(tmp_path / "fast.vcf", CHRX[3:])
    vcf_to_zarr(fast, tmp_path / "fast.zarr")
    assert _alt_counts(tmp_path / "fast.zarr") == EXPECTED[3:]


def test_a_call_with_three_alleles_is_refused_with_its_line(tmp_path):
    vcf = _x_vcf(tmp_path / "x.vcf", [*CHRX[:2], (300, ["0/1/1", "1", "0/0", "0/1"])])
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(vcf, tmp_path / "x.zarr")
    msg = str(e.value)
    assert msg.startswith(f"{vcf}:8: a call with more than 2 alleles") and "\n" not in msg
    assert not (tmp_path / "x.zarr").exists() and not (tmp_path / "x.zarr.tmp").exists()


def test_chrx_cohort_keeps_its_variants_through_qc(tmp_path):
    from popcen.qc import variant_qc

    vcf = _x_vcf(tmp_path / "x.vcf", CHRX[:2])
    vcf_to_zarr(vcf, tmp_path / "x.zarr")
    store = zarr.open_group(str(tmp_path / "x.zarr"), mode="r")
    table = variant_qc(store, np.arange(4), min_call_rate=0.9, min_mac=1, min_maf=0.0)
    assert table["status"].tolist() == ["kept", "kept"]


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_ploidy_stream_rewrites_across_read_boundaries(block):
    import io

    from popcen.vcfcheck import PloidyStream, RecordChecks

    def text(rows):
        return "".join(
            f"chrX\t{pos}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(calls) + "\n" for pos, calls in rows
        )

    records = text(CHRX)
    diploid = {"1": "1/1", "0": "0/0", ".": "./."}
    expected = text([(pos, [diploid.get(c, c) for c in calls]) for pos, calls in CHRX])
    stream = PloidyStream(io.BytesIO((_X_HEADER + records).encode()), RecordChecks("x.vcf", 4), block=block)
    out, buffer = b"", bytearray(5)
    while n := stream.readinto(buffer):
        out += bytes(buffer[:n])
    assert out.decode() == _X_HEADER + expected
    bad = _X_HEADER + records + "chrX\t500\t.\tA\tG\t.\tPASS\t.\tGT\t0/0\t0|1|1\t0/0\t1\n"
    stream = PloidyStream(io.BytesIO(bad.encode()), RecordChecks("x.vcf", 4), block=block)
    with pytest.raises(PopcenInputError, match=r"^x\.vcf:10: a call with more than 2 alleles"):
        while stream.readinto(buffer):
            pass
