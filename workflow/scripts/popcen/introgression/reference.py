"""The reference FASTA (plain or BGZF): index, contig sizes, assembly gaps (N runs), base composition."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from popcen.errors import PopcenInputError

log = logging.getLogger("popcen")


def open_fasta(path: str | Path) -> pysam.FastaFile:
    """Open a FASTA with pysam, building the ``.fai`` (and ``.gzi`` for BGZF) when missing.

    Raises
    ------
    PopcenInputError
        Missing file, a gzip file that is not BGZF, or no index and a folder we cannot write to.
    """
    path = Path(path)
    if not path.is_file():
        raise PopcenInputError(path, "reference FASTA not found")
    fai = Path(f"{path}.fai")
    if not fai.exists():
        log.info("building the FASTA index of %s", path)
        try:
            pysam.faidx(str(path))
        except pysam.SamtoolsError as exc:
            hint = " (a .gz FASTA must be BGZF-compressed: `bgzip` it)" if path.suffix == ".gz" else ""
            raise PopcenInputError(path, f"cannot index the FASTA{hint}: {str(exc).strip()}") from None
    try:
        return pysam.FastaFile(str(path))
    except (OSError, ValueError) as exc:
        raise PopcenInputError(path, f"cannot read the FASTA: {exc}") from None


def contig_sizes(fasta: pysam.FastaFile) -> dict[str, int]:
    return dict(zip(fasta.references, fasta.lengths, strict=True))


def fetch_upper(fasta: pysam.FastaFile, chrom: str, start: int, end: int) -> bytes:
    """Reference bases ``[start, end)`` upper-cased (soft-masked repeats count like any other base)."""
    return fasta.fetch(chrom, int(start), int(end)).upper().encode("ascii")


def n_runs(seq: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (half-open) of every run of non-ACGT bases (N and IUPAC codes) in ``seq``."""
    a = np.frombuffer(seq.upper(), np.uint8)
    acgt = np.zeros(256, bool)
    acgt[list(b"ACGT")] = True
    gap = ~acgt[a]
    edges = np.diff(np.concatenate(([0], gap.view(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def scan_reference(fasta: pysam.FastaFile, chunk: int = 10_000_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One pass over the FASTA: its gaps (non-ACGT runs) and per-contig base counts.

    Contigs are read in chunks so that a 250 Mb chromosome never sits in memory as text twice; runs that
    cross a chunk border are joined.

    Returns
    -------
    (gaps, composition)
        ``gaps``: chrom, start, end of each non-ACGT run. ``composition``: chrom, length, A, C, G, T, other.
    """
    gap_rows, comp_rows = [], []
    for chrom, length in contig_sizes(fasta).items():
        counts = np.zeros(256, np.int64)
        starts, ends = [], []
        for off in range(0, length, chunk):
            seq = fetch_upper(fasta, chrom, off, min(off + chunk, length))
            counts += np.bincount(np.frombuffer(seq, np.uint8), minlength=256)
            s, e = n_runs(seq)
            starts.append(s + off)
            ends.append(e + off)
        s, e = np.concatenate(starts), np.concatenate(ends)
        if len(s) > 1:  # join runs split by a chunk border
            keep = np.ones(len(s), bool)
            keep[1:] = s[1:] != e[:-1]
            s, e = s[keep], np.maximum.reduceat(e, np.flatnonzero(keep))
        gap_rows.append(pd.DataFrame({"chrom": chrom, "start": s, "end": e}))
        acgt = {b: int(counts[ord(b)]) for b in "ACGT"}
        comp_rows.append({"chrom": chrom, "length": length, **acgt, "other": length - sum(acgt.values())})
    gaps = pd.concat(gap_rows, ignore_index=True)
    return gaps, pd.DataFrame(comp_rows)
