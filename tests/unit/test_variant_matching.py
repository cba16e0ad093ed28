"""Matching a new cohort's variants to the training variants."""

import numpy as np
import pandas as pd
import pytest

from popcen.errors import PopcenInputError
from popcen.variant_matching import (
    align_counts,
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


def test_align_counts_flips_and_imputes():
    counts = np.array([[0, 1, 2, 2, -1, 2], [2, 0, 1, 0, 1, 1]], dtype=np.int8)
    mean = np.array([0.5, 1.0, 1.5, 0.2, 0.7, 0.9])
    x = align_counts(counts, match_variants(TRAIN, NEW), mean)
    expected = np.array(
        [
            [0, 2 - 1, 2, 0.2, 0.7, 0.9],  # the missing call at 600 takes the mean
            [2, 2 - 0, 1, 0.2, 0.7, 1],
        ],
        dtype=np.float32,
    )
    np.testing.assert_allclose(x, expected)


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
