"""Do the introgressed loci overlap fewer (or more) genes than chance? Gene overlaps against N shuffled sets.

Both tails are reported: the published analysis claims a *depletion* (introgressed regions avoid genes),
which is the lower tail, #{null <= observed}; an enrichment is the upper tail, #{null >= observed}. The
two-sided p is twice the smaller tail, capped at 1, and ``direction`` names the side the observed count
falls on (the smaller tail).

What is shuffled is the set of introgressed *loci* (the union of the map's intervals), not the intervals
one by one: the map lists overlapping haplotypes (83,601 intervals summing to 7.7 Gb, a union of 0.85 Gb
on hg19), and shuffling them independently spreads them over ~9 times more genome, so that any map would
look depleted of genes. Shuffled loci keep the number, lengths and total coverage of the real ones.

Each null set is one ``bedtools shuffle -chrom -excl -noOverlapping -seed`` call, with the loci listed
longest first: bedtools places them in file order, and on hg19 the Mb-long loci no longer fit once the short
ones are scattered (92 of 6,004 unplaceable in input order, none longest first). The number of genes it overlaps is counted by sorted-interval arithmetic in numpy on a concatenated genome
coordinate, which gives exactly ``bedtools intersect -u -a genes -b set | wc -l`` (tested) without a
second process per permutation.
"""

from __future__ import annotations

import io
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from popcen.introgression.controls import exclusion_intervals as merged
from popcen.introgression.intervals import merge_intervals, overlaps_any

TAILS = ("depletion", "enrichment")


def empirical_p(observed: float, null: np.ndarray, tail: str = "enrichment") -> float:
    """One-sided empirical p-value with the +1 correction.

    ``tail="enrichment"``: (1 + #{null >= observed}) / (N + 1), small when the observed count is high;
    ``tail="depletion"``: (1 + #{null <= observed}) / (N + 1), small when it is low. The +1 counts the
    observed set as one draw of the null, so p is never 0 and is exact under the null.
    """
    null = np.asarray(null)
    if tail == "enrichment":
        hits = np.count_nonzero(null >= observed)
    elif tail == "depletion":
        hits = np.count_nonzero(null <= observed)
    else:
        raise ValueError(f"tail must be one of {TAILS}, got {tail!r}")
    return (1.0 + hits) / (len(null) + 1.0)


def tail_p_values(observed: float, null: np.ndarray) -> dict:
    """Both one-sided p-values, the two-sided p (2 x the smaller, capped at 1) and the direction.

    ``direction`` is the tail with the smaller p (``depletion``: fewer genes than the null, ``enrichment``:
    more); ``none`` when the two tails are equal (the observed count sits in the middle of the null).
    """
    p_dep, p_enr = empirical_p(observed, null, "depletion"), empirical_p(observed, null, "enrichment")
    direction = "depletion" if p_dep < p_enr else "enrichment" if p_enr < p_dep else "none"
    return {
        "p_depletion": p_dep,
        "p_enrichment": p_enr,
        "p_two_sided": min(1.0, 2.0 * min(p_dep, p_enr)),
        "direction": direction,
    }


def genome_offsets(sizes: dict[str, int]) -> dict[str, int]:
    """Start of each contig on one concatenated coordinate, so intervals of all contigs sort together."""
    return dict(zip(sizes, np.concatenate(([0], np.cumsum(list(sizes.values()))[:-1])).tolist(), strict=True))


def linear(table: pd.DataFrame, offsets: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    off = table["chrom"].map(offsets).to_numpy(np.int64)
    return table["start"].to_numpy(np.int64) + off, table["end"].to_numpy(np.int64) + off


def count_overlapping(gene_starts, gene_ends, starts, ends) -> int:
    """Number of genes overlapping at least one of the intervals (all on the concatenated coordinate)."""
    ms, me = merge_intervals(starts, ends)
    return int(overlaps_any(gene_starts, gene_ends, ms, me).sum())


def loci_for_shuffling(regions: pd.DataFrame) -> pd.DataFrame:
    """The union of the intervals (disjoint loci), longest first, the order bedtools should place them in."""
    loci = merged(regions)
    return (
        loci.assign(length=loci["end"] - loci["start"])
        .sort_values(["length", "chrom", "start"], ascending=[False, True, True], kind="stable")
        .reset_index(drop=True)
    )


def _shuffled_starts(loci_bed: Path, genome: Path, exclude_bed: Path, seed: int) -> np.ndarray:
    cmd = [
        "bedtools",
        "shuffle",
        "-i",
        str(loci_bed),
        "-g",
        str(genome),
        "-chrom",
        "-excl",
        str(exclude_bed),
        "-noOverlapping",
        "-maxTries",
        "10000",
        "-seed",
        str(int(seed)),
    ]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return pd.read_csv(io.BytesIO(out), sep="\t", header=None, usecols=[1]).iloc[:, 0].to_numpy(np.int64)


def null_distribution(
    loci: pd.DataFrame,
    loci_bed: Path,
    genome: Path,
    exclude_bed: Path,
    genes: pd.DataFrame,
    sizes: dict[str, int],
    n: int,
    seed: int,
    threads: int = 1,
) -> np.ndarray:
    """Gene-overlap counts of ``n`` shuffled copies of the loci (seeds ``seed .. seed+n-1``).

    ``loci`` (chrom, start, end; disjoint, longest first: see :func:`loci_for_shuffling`) must be the rows
    of ``loci_bed`` in file order (bedtools keeps the order and, with ``-chrom``, the contig of every
    interval, so only the new starts are read back).
    """
    offsets = genome_offsets(sizes)
    gs, ge = linear(genes, offsets)
    off = loci["chrom"].map(offsets).to_numpy(np.int64)
    lengths = (loci["end"] - loci["start"]).to_numpy(np.int64)

    def one(i):
        starts = _shuffled_starts(loci_bed, genome, exclude_bed, seed + i)
        if len(starts) != len(loci):
            raise RuntimeError(
                f"bedtools shuffle placed {len(starts)} of {len(loci)} loci (seed {seed + i}): "
                "the loci do not fit side by side outside the excluded regions"
            )
        return count_overlapping(gs, ge, starts + off, starts + off + lengths)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:  # bedtools runs outside the GIL
        counts = list(tqdm(pool.map(one, range(n)), total=n, desc="permutations", mininterval=5))
    return np.asarray(counts, np.int64)


def observed_overlaps(genes: pd.DataFrame, loci: pd.DataFrame, sizes: dict[str, int]) -> int:
    """Number of genes that overlap at least one of the loci."""
    offsets = genome_offsets(sizes)
    return count_overlapping(*linear(genes, offsets), *linear(loci, offsets))


def summary(loci: pd.DataFrame, observed: int, null: np.ndarray, n_genes: int) -> pd.DataFrame:
    """One row: the loci, the observed overlap count, the null's mean and sd, the counts of null sets at or
    below and at or above the observed count, both one-sided p-values, the two-sided p and the direction
    (see :func:`tail_p_values`)."""
    null = np.asarray(null)
    n = len(null)
    return pd.DataFrame(
        [
            {
                "loci": len(loci),
                "loci_bp": int((loci["end"] - loci["start"]).sum()),
                "observed_genes_overlapped": observed,
                "n_permutations": n,
                "null_mean": null.mean(),
                "null_sd": null.std(ddof=1) if n > 1 else np.nan,
                "n_null_le_observed": int((null <= observed).sum()),
                "n_null_ge_observed": int((null >= observed).sum()),
                **tail_p_values(observed, null),
                "genes_on_reference": n_genes,
            }
        ]
    )
