"""Introgressed regions: unique intervals on the reference, with what was dropped and why."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError
from popcen.introgression.intervals import reconcile_contigs, sort_intervals, to_reference_contigs

log = logging.getLogger("popcen")


def prepare_regions(
    raw: pd.DataFrame, sizes: dict[str, int], path=None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Unique intervals of the map on the reference's contigs, sorted, each with an id ``region_<n>``.

    The map lists one row per haplotype, so the same interval appears many times; duplicates are dropped
    before anything else (overlapping but different intervals are kept: the split deals with them).

    Returns
    -------
    (regions, counts)
        regions: region_id, chrom, start, end, length. counts: rows, duplicates, absent_contig,
        past_contig_end, kept.
    """
    unique = raw.drop_duplicates(["chrom", "start", "end"])
    dups = len(raw) - len(unique)
    log.info("introgression map: %d rows, %d duplicate intervals dropped", len(raw), dups)
    kept, counts = to_reference_contigs(unique, sizes, "introgression map", path)
    if kept.empty:
        raise PopcenInputError(path, "no introgressed interval lies on the reference's contigs")
    regions = sort_intervals(kept)
    regions.insert(0, "region_id", [f"region_{i}" for i in range(len(regions))])
    regions["length"] = regions["end"] - regions["start"]
    return regions, {
        "rows": len(raw),
        "duplicates": dups,
        **{k: v for k, v in counts.items() if k != "input"},
    }


def introgressed_on_reference(raw: pd.DataFrame, sizes: dict[str, int]) -> pd.DataFrame:
    """Every map interval on the reference's contigs, clipped to the contig end: what controls must avoid.

    Wider than the regions that are analysed: an interval dropped for running past a contig end (a partial
    reference, say) is still introgressed sequence, and a control must not land on it.
    """
    mapping = reconcile_contigs(raw["chrom"], sizes)
    df = raw.assign(chrom=raw["chrom"].map(mapping)).dropna(subset=["chrom"])
    df = df.assign(end=np.minimum(df["end"], df["chrom"].map(sizes)))
    return sort_intervals(df[df["start"] < df["end"]][["chrom", "start", "end"]].drop_duplicates())


def length_table(regions: pd.DataFrame) -> pd.DataFrame:
    """Length distribution per contig and overall: n, min, quartiles, mean, max, total bp."""

    def describe(x: pd.Series) -> dict:
        q = np.percentile(x, [0, 25, 50, 75, 100])
        return {
            "n": len(x),
            "min": int(q[0]),
            "q25": q[1],
            "median": q[2],
            "q75": q[3],
            "max": int(q[4]),
            "mean": x.mean(),
            "total_bp": int(x.sum()),
        }

    rows = [{"chrom": c, **describe(g["length"])} for c, g in regions.groupby("chrom", sort=False)]
    rows.append({"chrom": "all", **describe(regions["length"])})
    return pd.DataFrame(rows)
