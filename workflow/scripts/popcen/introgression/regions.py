"""Introgressed regions: unique intervals on the reference, with what was dropped and why."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError
from popcen.introgression.intervals import sort_intervals, to_reference_contigs

log = logging.getLogger("popcen")


def prepare_regions(raw: pd.DataFrame, sizes: dict[str, int], path=None) -> tuple[pd.DataFrame, dict[str, int]]:
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
    return regions, {"rows": len(raw), "duplicates": dups, **{k: v for k, v in counts.items() if k != "input"}}


def length_table(regions: pd.DataFrame) -> pd.DataFrame:
    """Length distribution per contig and overall: n, min, quartiles, mean, max, total bp."""
    def describe(x: pd.Series) -> dict:
        q = np.percentile(x, [0, 25, 50, 75, 100])
        return {"n": len(x), "min": int(q[0]), "q25": q[1], "median": q[2], "q75": q[3], "max": int(q[4]),
                "mean": x.mean(), "total_bp": int(x.sum())}

    rows = [{"chrom": c, **describe(g["length"])} for c, g in regions.groupby("chrom", sort=False)]
    rows.append({"chrom": "all", **describe(regions["length"])})
    return pd.DataFrame(rows)
