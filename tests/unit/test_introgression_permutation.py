"""The gene-overlap permutation test finds a planted depletion in its lower tail and a planted enrichment in
its upper tail, each with bedtools shuffle nulls on a synthetic genome, and not in the other tail."""

import shutil

import numpy as np
import pandas as pd
import pytest

from popcen.introgression import permutation
from popcen.introgression.intervals import write_bed, write_genome_file

pytestmark = pytest.mark.skipif(shutil.which("bedtools") is None, reason="bedtools not installed")

SIZES = {"c1": 2_000_000, "c2": 1_500_000}
LOCUS = 5_000
N_PERMUTATIONS = 99  # smallest attainable one-sided p: 1 / 100


def synthetic_genes(rng, n=300):
    """Genes of 2-4 kb placed uniformly on both contigs (sorted, so that the gaps between them are known)."""
    chrom = rng.choice(list(SIZES), n, p=[4 / 7, 3 / 7])
    lengths = rng.integers(2_000, 4_000, n)
    starts = np.array([rng.integers(0, SIZES[c] - n_) for c, n_ in zip(chrom, lengths, strict=True)])
    return (
        pd.DataFrame({"chrom": chrom, "start": starts, "end": starts + lengths})
        .sort_values(["chrom", "start"])
        .reset_index(drop=True)
    )


def loci_between_genes(genes, n):
    """``n`` loci of LOCUS bp, each in the middle of a gene-free stretch longer than LOCUS + 2 kb: they
    overlap no gene at all (a planted depletion)."""
    rows = []
    for chrom, g in genes.groupby("chrom"):
        covered_to = np.maximum.accumulate(g["end"].to_numpy())
        gap_starts = np.concatenate(([0], covered_to))
        gap_ends = np.concatenate((g["start"].to_numpy(), [SIZES[chrom]]))
        for s, e in zip(gap_starts, gap_ends, strict=True):
            if e - s > LOCUS + 2_000:
                mid = (s + e) // 2
                rows.append((chrom, mid - LOCUS // 2, mid + LOCUS // 2))
    picked = np.random.default_rng(1).choice(len(rows), n, replace=False)
    return pd.DataFrame([rows[i] for i in sorted(picked)], columns=["chrom", "start", "end"])


def loci_on_genes(genes, n):
    """``n`` loci of LOCUS bp centred on ``n`` distinct genes (a planted enrichment)."""
    g = genes.iloc[np.sort(np.random.default_rng(2).choice(len(genes), n, replace=False))]
    mid = (g["start"] + g["end"]) // 2
    loci = pd.DataFrame({"chrom": g["chrom"], "start": mid - LOCUS // 2, "end": mid + LOCUS // 2})
    return loci.reset_index(drop=True)


def run_test(tmp_path, genes, loci):
    """The rule's steps (introgression_permutation) on tables: observed count, shuffled null, summary row."""
    write_genome_file(SIZES, tmp_path / "genome.txt")
    shuffled = permutation.loci_for_shuffling(loci)
    write_bed(shuffled, tmp_path / "loci.bed")
    write_bed(shuffled, tmp_path / "exclude.bed")  # as the pipeline: nulls avoid the introgressed loci
    observed = permutation.observed_overlaps(genes, shuffled, SIZES)
    null = permutation.null_distribution(
        shuffled,
        tmp_path / "loci.bed",
        tmp_path / "genome.txt",
        tmp_path / "exclude.bed",
        genes,
        SIZES,
        N_PERMUTATIONS,
        seed=7,
        threads=2,
    )
    return observed, null, permutation.summary(shuffled, observed, null, len(genes)).iloc[0]


def brute_force_overlaps(genes, loci):
    """Genes overlapping at least one locus, by a direct pairwise check (independent of the numpy sweep)."""
    n = 0
    for _, g in genes.iterrows():
        same = loci[loci["chrom"] == g["chrom"]]
        n += bool(((same["start"] < g["end"]) & (same["end"] > g["start"])).any())
    return n


def test_planted_depletion_is_found_in_the_lower_tail(tmp_path):
    genes = synthetic_genes(np.random.default_rng(0))
    loci = loci_between_genes(genes, 40)
    observed, null, row = run_test(tmp_path, genes, loci)
    assert observed == brute_force_overlaps(genes, loci) == 0  # planted: no gene touched
    assert null.mean() > 10  # random 5 kb loci do hit genes (the null is not degenerate)
    assert row["direction"] == "depletion"
    assert row["p_depletion"] < 0.05 and row["p_two_sided"] < 0.05
    assert row["p_enrichment"] > 0.5  # and not in the enrichment tail
    # the table's p-values from its own counts, by the +1 formula
    assert row["p_depletion"] == pytest.approx((1 + np.sum(null <= observed)) / (N_PERMUTATIONS + 1))


def test_planted_enrichment_is_found_in_the_upper_tail(tmp_path):
    genes = synthetic_genes(np.random.default_rng(0))
    loci = loci_on_genes(genes, 40)
    observed, null, row = run_test(tmp_path, genes, loci)
    assert observed == brute_force_overlaps(genes, loci) >= 40  # each locus sits on its own gene
    assert row["direction"] == "enrichment"
    assert row["p_enrichment"] < 0.05 and row["p_two_sided"] < 0.05
    assert row["p_depletion"] > 0.5  # and not in the depletion tail
    assert row["p_enrichment"] == pytest.approx((1 + np.sum(null >= observed)) / (N_PERMUTATIONS + 1))
