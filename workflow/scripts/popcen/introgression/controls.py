"""Control regions: length- and chromosome-matched random intervals that avoid introgression and gaps.

Drawn by ``bedtools shuffle -chrom -excl -seed`` (one call per control set), not by a Python rejection loop.
"""

from __future__ import annotations

import io
import logging
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError
from popcen.introgression.intervals import merge_intervals

log = logging.getLogger("popcen")


def exclusion_intervals(*tables: pd.DataFrame) -> pd.DataFrame:
    """Union of the intervals of all ``tables`` (chrom, start, end), merged per contig and sorted."""
    both = pd.concat([t[["chrom", "start", "end"]] for t in tables], ignore_index=True)
    rows = []
    for chrom, sub in both.groupby("chrom", sort=True):
        s, e = merge_intervals(sub["start"].to_numpy(), sub["end"].to_numpy())
        rows.append(pd.DataFrame({"chrom": chrom, "start": s, "end": e}))
    if not rows:
        return pd.DataFrame(
            {
                "chrom": pd.Series(dtype=str),
                "start": pd.Series(dtype=np.int64),
                "end": pd.Series(dtype=np.int64),
            }
        )
    return pd.concat(rows, ignore_index=True)


def bedtools_shuffle(
    regions_bed: str | Path,
    genome: str | Path,
    exclude_bed: str | Path,
    seed: int,
    no_overlap: bool = False,
    max_tries: int = 1000,
) -> pd.DataFrame:
    """One shuffled copy of ``regions_bed`` (4 columns: chrom, start, end, id), in input order.

    Each interval keeps its length and chromosome (``-chrom``), avoids ``exclude_bed`` (``-excl``, the whole
    interval must fall outside it) and, with ``no_overlap``, the other shuffled intervals.

    Raises
    ------
    PopcenInputError
        When bedtools could not place every interval (it silently skips those after ``max_tries``).
    """
    cmd = [
        "bedtools",
        "shuffle",
        "-i",
        str(regions_bed),
        "-g",
        str(genome),
        "-chrom",
        "-excl",
        str(exclude_bed),
        "-seed",
        str(int(seed)),
        "-maxTries",
        str(max_tries),
    ]
    if no_overlap:
        cmd.append("-noOverlapping")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PopcenInputError(regions_bed, f"bedtools shuffle failed: {proc.stderr.strip()[:500]}")
    out = pd.read_csv(
        io.StringIO(proc.stdout),
        sep="\t",
        header=None,
        names=["chrom", "start", "end", "region_id"],
        dtype={"chrom": str, "region_id": str},
    )
    n_in = sum(1 for _ in open(regions_bed))
    if len(out) != n_in:
        hint = " (drop no_overlap: the intervals do not fit side by side)" if no_overlap else ""
        raise PopcenInputError(
            regions_bed,
            f"bedtools shuffle placed {len(out)} of {n_in} intervals outside "
            f"the excluded regions after {max_tries} tries each{hint}",
        )
    return out


def closest_gc(target_gc: np.ndarray, candidate_gc: np.ndarray) -> np.ndarray:
    """For each row (region), the column (candidate) whose GC is nearest the region's; NaN never wins.

    Parameters
    ----------
    target_gc : (n,) GC fraction of each region.
    candidate_gc : (n, m) GC fraction of m candidate controls of each region.
    """
    diff = np.abs(candidate_gc - target_gc[:, None])
    diff = np.where(np.isnan(diff), np.inf, diff)
    return np.argmin(diff, axis=1)


def draw_controls(
    regions: pd.DataFrame,
    regions_bed: Path,
    genome: Path,
    exclude_bed: Path,
    seed: int,
    no_overlap: bool,
    gc_candidates: int = 0,
    gc_of=None,
) -> pd.DataFrame:
    """One control per region (same order), plain or GC-matched.

    With ``gc_candidates`` > 1, that many control sets are drawn (seeds ``seed .. seed+m-1``) and each
    region keeps the candidate whose GC content (``gc_of(table) -> array``) is closest to its own: a null
    that controls for base composition, which uniformly drawn controls do not.
    """
    if gc_candidates <= 1:
        controls = bedtools_shuffle(regions_bed, genome, exclude_bed, seed, no_overlap)
    else:
        sets = [
            bedtools_shuffle(regions_bed, genome, exclude_bed, seed + i, no_overlap)
            for i in range(gc_candidates)
        ]
        cand_gc = np.column_stack([gc_of(s) for s in sets])
        pick = closest_gc(gc_of(regions), cand_gc)
        starts = np.column_stack([s["start"].to_numpy() for s in sets])[np.arange(len(regions)), pick]
        controls = sets[0].assign(start=starts, end=starts + regions["length"].to_numpy())
        log.info("GC-matched controls: picked among %d candidates per region", gc_candidates)
    if not (controls["region_id"].to_numpy() == regions["region_id"].to_numpy()).all():
        raise RuntimeError("bedtools shuffle changed the order of the intervals")
    controls = controls.rename(columns={"region_id": "matched_region"})
    controls.insert(0, "control_id", [f"control_{i}" for i in range(len(controls))])
    controls["length"] = controls["end"] - controls["start"]
    return controls
