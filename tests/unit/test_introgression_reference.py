"""Reference FASTA: index built when missing (plain and BGZF), gaps and composition against brute force."""

import gzip
import re
import shutil
import subprocess

import pytest

from popcen.errors import PopcenInputError
from popcen.introgression.reference import open_fasta, scan_reference
from popcen.introgression.sequences import gc_fraction

CONTIGS = {"chrA": "NNNACGTNNACGTTTGGNNNNNNNNACGT", "chrB": "ACGTRYNNACCC", "chrC": "NNNNNNNNNNNNNNN"}


def write(path):
    # lines of 10 bases: faidx needs every line but a record's last one to have the same length
    path.write_text(
        "".join(
            f">{c}\n" + "".join(s[i : i + 10] + "\n" for i in range(0, len(s), 10))
            for c, s in CONTIGS.items()
        )
    )
    return path


def brute_gaps(seq):
    return [(m.start(), m.end()) for m in re.finditer(r"[^ACGT]+", seq)]


@pytest.mark.parametrize("chunk", [3, 7, 1000])
def test_gaps_and_composition_against_brute_force(tmp_path, chunk):
    with open_fasta(write(tmp_path / "ref.fa")) as fa:
        assert (tmp_path / "ref.fa.fai").exists()  # built on first open
        gaps, comp = scan_reference(fa, chunk=chunk)
    for chrom, seq in CONTIGS.items():
        got = gaps[gaps["chrom"] == chrom]
        assert list(zip(got["start"], got["end"], strict=True)) == brute_gaps(seq)
        row = comp.set_index("chrom").loc[chrom]
        assert (
            row["length"] == len(seq)
            and row["G"] == seq.count("G")
            and row["other"] == len(seq) - sum(seq.count(b) for b in "ACGT")
        )


@pytest.mark.skipif(shutil.which("bgzip") is None, reason="bgzip not installed")
def test_bgzf_is_indexed_and_plain_gzip_is_a_clear_error(tmp_path):
    plain = write(tmp_path / "ref.fa")
    subprocess.run(["bgzip", "-k", str(plain)], check=True)
    with open_fasta(tmp_path / "ref.fa.gz") as fa:
        assert fa.fetch("chrA", 3, 7) == "ACGT"
    assert (tmp_path / "ref.fa.gz.gzi").exists()
    bad = tmp_path / "plain.fa.gz"
    bad.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(PopcenInputError, match="BGZF"):
        open_fasta(bad)


def test_gc_fraction_ignores_non_acgt():
    assert gc_fraction(b"GGCCAATTNN") == pytest.approx(0.5)
    assert gc_fraction(b"NNNN") != gc_fraction(b"NNNN")  # NaN
