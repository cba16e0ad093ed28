"""Sequences of regions, controls and genes: fetched from the reference, upper-cased, truncated, filtered."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
from tqdm.auto import tqdm

from popcen.introgression.reference import fetch_upper

log = logging.getLogger("popcen")

_ACGT = np.zeros(256, bool)
_ACGT[list(b"ACGT")] = True
_GC = np.zeros(256, bool)
_GC[list(b"GC")] = True


def gc_fraction(seq: bytes) -> float:
    """G+C over A+C+G+T (non-ACGT bases ignored); NaN when the sequence has no ACGT base."""
    a = np.frombuffer(seq, np.uint8)
    acgt = int(_ACGT[a].sum())
    return float(_GC[a].sum()) / acgt if acgt else float("nan")


def has_non_acgt(seq: bytes) -> bool:
    return not bool(_ACGT[np.frombuffer(seq, np.uint8)].all())


def fetch_windows(
    fasta: pysam.FastaFile,
    table: pd.DataFrame,
    max_len: int,
    from_end: np.ndarray | None = None,
    desc: str = "fetch",
) -> list[bytes]:
    """Upper-cased reference sequence of the first ``max_len`` bp of each interval.

    ``from_end`` (bool per row) takes the last ``max_len`` bp instead, for genes on the minus strand whose
    5' end is the interval's end; the sequence stays on the reference strand, like the training sequences.
    """
    starts, ends = table["start"].to_numpy(), table["end"].to_numpy()
    lo = starts.copy()
    hi = np.minimum(ends, starts + max_len)
    if from_end is not None:
        lo = np.where(from_end, np.maximum(starts, ends - max_len), lo)
        hi = np.where(from_end, ends, hi)
    chroms = table["chrom"].to_numpy()
    return [
        fetch_upper(fasta, c, s, e)
        for c, s, e in tqdm(zip(chroms, lo, hi, strict=True), total=len(table), desc=desc, mininterval=5)
    ]


def window_gc(fasta: pysam.FastaFile, table: pd.DataFrame, max_len: int) -> np.ndarray:
    """GC fraction of the first ``max_len`` bp of each interval (what the k-mer models see of it)."""
    return np.array([gc_fraction(s) for s in fetch_windows(fasta, table, max_len, desc="GC")])


def paired_sequences(
    fasta: pysam.FastaFile, regions: pd.DataFrame, controls: pd.DataFrame, max_len: int
) -> tuple[pd.DataFrame, list[bytes], dict[str, int]]:
    """Sequences of every (region, control) pair; pairs where either holds a non-ACGT base are dropped.

    Returns
    -------
    (table, seqs, counts)
        table: seq_id, label (1 introgressed, 0 control), pair, chrom, start, end, length, gc — one row per
        kept sequence, regions first then controls; ``seqs`` in the same order.
    """
    reg = fetch_windows(fasta, regions, max_len, desc="introgressed")
    con = fetch_windows(fasta, controls, max_len, desc="controls")
    bad_r = np.array([has_non_acgt(s) for s in reg], bool)
    bad_c = np.array([has_non_acgt(s) for s in con], bool)
    keep = ~(bad_r | bad_c)
    counts = {
        "pairs": len(regions),
        "dropped_region_has_N": int(bad_r.sum()),
        "dropped_control_has_N": int((bad_c & ~bad_r).sum()),
        "kept_pairs": int(keep.sum()),
    }
    log.info(
        "sequence pairs: %d, dropped: %d with N in the introgressed region, %d with N in the control; "
        "%d kept",
        counts["pairs"],
        counts["dropped_region_has_N"],
        counts["dropped_control_has_N"],
        counts["kept_pairs"],
    )

    def rows(df, id_col, label, seqs):
        sub = df[keep]
        return pd.DataFrame(
            {
                "seq_id": sub[id_col].to_numpy(),
                "label": label,
                "pair": regions["region_id"].to_numpy()[keep],
                "chrom": sub["chrom"].to_numpy(),
                "start": sub["start"].to_numpy(),
                "end": sub["end"].to_numpy(),
                "length": sub["length"].to_numpy(),
                "gc": [gc_fraction(s) for s, k in zip(seqs, keep, strict=True) if k],
            }
        )

    table = pd.concat(
        [rows(regions, "region_id", 1, reg), rows(controls, "control_id", 0, con)], ignore_index=True
    )
    seqs = [s for s, k in zip(reg, keep, strict=True) if k] + [s for s, k in zip(con, keep, strict=True) if k]
    return table, seqs, counts


def write_fasta_gz(ids, seqs, path: str | Path, level: int = 1) -> None:
    """One record per sequence, one line each (they are at most ``max_len`` bp)."""
    with gzip.open(path, "wb", compresslevel=level) as fh:
        for i, s in zip(ids, seqs, strict=True):
            fh.write(b">" + str(i).encode() + b"\n" + s + b"\n")


def read_fasta(path: str | Path) -> tuple[list[str], list[bytes]]:
    ids, seqs = [], []
    with pysam.FastxFile(str(path)) as fh:
        for rec in fh:
            ids.append(rec.name)
            seqs.append(rec.sequence.encode("ascii"))
    return ids, seqs
