"""Matching a new cohort's variants to the training variants."""

import numpy as np
import pandas as pd
import pytest

from popcen.errors import PopcenInputError
from popcen.variant_matching import (
    align_counts,
    alleles_agree,
    build_evidence,
    build_problem,
    check_overlap,
    is_strand_ambiguous,
    match_variants,
    normalise_chrom,
    overlap_report,
)

TRAIN = pd.DataFrame(
    {
        "chrom": ["chr1", "chr1", "chr1", "chr1", "chr2", "chr2"],
        "pos": [100, 200, 300, 400, 500, 600],
        "ref": ["A", "C", "A", "G", "A", "C"],
        "alt": ["G", "T", "T", "C", "G", "A"],
    }
)
# 100 exact, 200 swapped, 300 A/T ambiguous exact, 400 C/G ambiguous swapped, 500 absent,
# 600 strand-flipped (C>A reported as G>T); an extra variant 700 only in the new cohort.
NEW = pd.DataFrame(
    {
        "chrom": ["1", "1", "1", "1", "2", "2"],
        "pos": [100, 200, 300, 400, 600, 700],
        "ref": ["A", "T", "A", "C", "G", "A"],
        "alt": ["G", "C", "T", "G", "T", "C"],
    }
)


def test_chrom_names_and_ambiguity():
    assert normalise_chrom("chr7") == normalise_chrom("7") == "7"
    assert normalise_chrom("chrM") == normalise_chrom("MT") == "MT"
    assert is_strand_ambiguous("A", "T") and is_strand_ambiguous("g", "c")
    assert not is_strand_ambiguous("A", "G")


def test_match_statuses():
    m = match_variants(TRAIN, NEW)
    assert m.status.tolist() == ["exact", "swapped", "exact", "missing", "missing", "strand"]
    assert m.new_index.tolist() == [0, 1, 2, -1, -1, 4]
    assert m.flip.tolist() == [False, True, False, False, False, False]
    dropped = match_variants(TRAIN, NEW, strand_ambiguous="drop")
    assert dropped.status.tolist()[2] == "missing"


def test_strand_swapped_flips():
    train = pd.DataFrame({"chrom": ["1"], "pos": [5], "ref": ["A"], "alt": ["G"]})
    new = pd.DataFrame({"chrom": ["1"], "pos": [5], "ref": ["C"], "alt": ["T"]})  # complement of G>A
    m = match_variants(train, new)
    assert m.status.tolist() == ["strand_swapped"] and m.flip.tolist() == [True]


@pytest.mark.parametrize("block", [1, 2, 1 << 16])
def test_align_counts_flips_and_marks_the_missing(block):
    counts = np.array([[0, 1, 2, 2, -1, 2], [2, 0, 1, 0, 1, 1]], dtype=np.int8)
    x = align_counts(counts, match_variants(TRAIN, NEW), block=block)
    expected = np.array(
        [
            [0, 2 - 1, 2, -1, -1, -1],  # the missing call at 600 stays missing
            [2, 2 - 0, 1, -1, -1, 1],
        ],
        dtype=np.int8,
    )
    assert x.dtype == np.int8
    np.testing.assert_array_equal(x, expected)


def test_multiallelic_split_prefers_matching_record():
    train = pd.DataFrame({"chrom": ["1"], "pos": [5], "ref": ["A"], "alt": ["T"]})
    new = pd.DataFrame({"chrom": ["1", "1"], "pos": [5, 5], "ref": ["A", "A"], "alt": ["C", "T"]})
    assert match_variants(train, new).new_index.tolist() == [1]


def test_overlap_and_no_overlap_error():
    rep = overlap_report(match_variants(TRAIN, NEW))
    assert rep["matched"] == 4 and rep["overlap"] == pytest.approx(4 / 6)
    other = NEW.assign(chrom="3")
    m = match_variants(TRAIN, other)
    assert (m.status == "missing").all()
    with pytest.raises(PopcenInputError, match="0 of 6 training variants"):
        check_overlap(m, 0.5, "new.vcf")
    check_overlap(match_variants(TRAIN, NEW), 0.5, "new.vcf")


# ------------------------------------------------------------------------------------------ build check
def _table(chrom, pos, ref, alt):
    n = len(pos)
    return pd.DataFrame(
        {
            "chrom": [chrom] * n if isinstance(chrom, str) else chrom,
            "pos": pos,
            "ref": [ref] * n if isinstance(ref, str) else ref,
            "alt": [alt] * n if isinstance(alt, str) else alt,
        }
    )


def test_build_evidence_counts_of_the_small_tables():
    # TRAIN/NEW above: contigs 1 and 2 in both; 500 is absent, the other 5 positions are shared and all carry
    # the same pair: 100 exact, 200 swapped, 300 A/T exact, 400 C/G swapped (status missing, yet the same
    # pair), 600 strand-flipped ({C, A} -> {G, T}).
    rep = overlap_report(match_variants(TRAIN, NEW))
    assert {k: rep[k] for k in build_evidence(match_variants(TRAIN, NEW))} == {
        "contigs_model": 2,
        "contigs_shared": 2,
        "variants_on_shared_contigs": 6,
        "positions_shared": 5,
        "alleles_agreeing": 5,
    }
    assert build_problem(rep) is None
    # strand_ambiguous=drop makes 300 missing too; its alleles still agree
    assert build_evidence(match_variants(TRAIN, NEW, "drop"))["alleles_agreeing"] == 5


def test_alleles_agree_in_any_orientation_only():
    assert alleles_agree("A", "G", "A", "G") and alleles_agree("A", "G", "G", "A")
    assert alleles_agree("A", "G", "T", "C") and alleles_agree("A", "G", "C", "T")  # strand, strand+swap
    assert not alleles_agree("A", "G", "A", "C") and not alleles_agree("A", "G", "G", "T")


def test_shared_positions_with_other_alleles_say_different_build():
    pos = list(range(1000, 41000, 1000))  # 40 positions on chr1 in both cohorts
    train = _table("chr1", pos, "A", "G")
    # 10 with the same pair (4 exact, 3 swapped, 3 strand-flipped T/C), 30 with another pair: A/C is
    # neither {A, G} nor its complement {T, C}
    ref = ["A"] * 4 + ["G"] * 3 + ["T"] * 3 + ["A"] * 30
    alt = ["G"] * 4 + ["A"] * 3 + ["C"] * 3 + ["C"] * 30
    new = _table("1", pos, ref, alt)
    m = match_variants(train, new)
    ev = build_evidence(m)
    assert ev == {
        "contigs_model": 1,
        "contigs_shared": 1,
        "variants_on_shared_contigs": 40,
        "positions_shared": 40,
        "alleles_agreeing": 10,
    }
    # overlap 10 / 40 = 25 % < 50 %: the error says it, with the counts
    with pytest.raises(PopcenInputError) as err:
        check_overlap(m, 0.5, "new.vcf")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("new.vcf: only 10 of 40 training variants (25.0%)")
    assert "different genome build?" in msg
    assert "contigs shared: 1 of the model's 1" in msg
    assert "positions shared: 40 of the model's 40 variants on them (100.0%)" in msg
    assert "allele-matching (directly, swapped or strand-flipped): 10 (25%)" in msg
    # overlap passing (min_overlap 20 %): a warning, kept in the report
    rep = check_overlap(m, 0.2, "new.vcf")
    assert rep["positions_shared"] == 40 and rep["alleles_agreeing"] == 10
    assert rep["build_warning"].startswith("different genome build?")


def test_allele_check_needs_enough_shared_positions():
    # 19 shared positions, none with the same pair: too few to judge alleles, and 19 model variants on the
    # shared contig are too few to judge positions; 20 are enough.
    for n, expect in ((19, False), (20, True)):
        pos = list(range(1, n + 1))
        m = match_variants(_table("1", pos, "A", "G"), _table("1", pos, "A", "C"))
        ev = build_evidence(m)
        assert (ev["positions_shared"], ev["alleles_agreeing"]) == (n, 0)
        assert (build_problem(ev) is not None) is expect


def test_near_zero_overlap_on_shared_contigs_says_different_build():
    # 100 model variants on chr2; the new cohort holds chr2 too, at positions shifted by 37 bp, and 2 of the
    # model's positions with the same alleles: 2 of 100 shared (2 % < 5 %), too few to vouch for the build.
    pos = list(range(100, 10100, 100))
    train = _table("chr2", pos, "C", "T")
    new = _table("2", [p + 37 for p in pos] + [100, 200], "C", "T").sort_values("pos")
    m = match_variants(train, new)
    assert build_evidence(m) == {
        "contigs_model": 1,
        "contigs_shared": 1,
        "variants_on_shared_contigs": 100,
        "positions_shared": 2,
        "alleles_agreeing": 2,
    }
    with pytest.raises(
        PopcenInputError, match=r"different genome build\? contigs shared: 1 of the model's 1; "
    ):
        check_overlap(m, 0.5, "new.vcf")


def test_sparse_cohort_on_the_same_build_is_not_called_another_build():
    # 1000 model variants on chr1; an array-like cohort holds 30 of them (3 %), all with the same alleles:
    # few positions, but they agree as one build's do. The overlap error names the counts without the hint.
    pos = list(range(10, 10010, 10))
    train = _table("chr1", pos, "G", "A")
    new = _table("chr1", pos[::33][:30], "G", "A")
    m = match_variants(train, new)
    ev = build_evidence(m)
    assert (ev["variants_on_shared_contigs"], ev["positions_shared"], ev["alleles_agreeing"]) == (
        1000,
        30,
        30,
    )
    assert build_problem(ev) is None
    with pytest.raises(PopcenInputError) as err:
        check_overlap(m, 0.5, "new.vcf")
    msg = str(err.value)
    assert "different genome build?" not in msg
    assert "check the reference build and chromosome names; contigs shared: 1 of the model's 1; " in msg
    assert msg.endswith(
        "allele-matching (directly, swapped or strand-flipped): 30 (100%); or lower min_overlap"
    )


def test_contigs_in_common_are_reported_when_none_match():
    # the model on chr1-chr3, the cohort on chromosomes named otherwise: no position can be compared
    train = _table(["chr1", "chr2", "chr3"], [1, 2, 3], "A", "G")
    new = _table(["NC_000001", "NC_000002", "NC_000003"], [1, 2, 3], "A", "G")
    m = match_variants(train, new)
    assert build_evidence(m)["contigs_shared"] == 0 and build_problem(build_evidence(m)) is None
    with pytest.raises(PopcenInputError, match=r"no contig in common with the model's \(1, 2, 3\)"):
        check_overlap(m, 0.5, "new.vcf")
