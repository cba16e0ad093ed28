"""Interval tables (BED-like) and the contig-naming reconciliation shared by every introgression step.

Intervals are half-open, 0-based (BED). Tables are pandas DataFrames with at least ``chrom, start, end``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError

log = logging.getLogger("popcen")

GENE_COLUMNS = ["chrom", "start", "end", "strand", "gene_id", "symbol", "biotype"]


def read_bed3(path: str | Path, allow_empty: bool = False) -> pd.DataFrame:
    """Read the first three columns of a BED file (``#``/``track``/``browser`` lines skipped).

    ``allow_empty`` accepts a file without intervals (the gaps of a reference that has none, say).

    Raises
    ------
    PopcenInputError
        When the file is missing, empty (unless ``allow_empty``), or its coordinates are not integers with
        ``start < end``.
    """
    path = Path(path)
    if not path.is_file():
        raise PopcenInputError(path, "file not found")
    try:
        df = pd.read_csv(
            path,
            sep="\t",
            header=None,
            comment="#",
            usecols=[0, 1, 2],
            names=["chrom", "start", "end"],
            dtype={0: str},
            skip_blank_lines=True,
        )
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise PopcenInputError(path, f"not a BED file with chrom, start, end columns ({exc})") from None
    df = df[~df["chrom"].str.startswith(("track", "browser"))]
    if df.empty and not allow_empty:
        raise PopcenInputError(path, "no intervals")
    return _check_coordinates(df, path)


def write_genome_file(sizes: dict[str, int], path: str | Path) -> None:
    """bedtools' genome file: contig and length, tab-separated."""
    Path(path).write_text("".join(f"{c}\t{n}\n" for c, n in sizes.items()))


def read_genome_file(path: str | Path) -> dict[str, int]:
    """Contig -> length, in file order, from a bedtools genome file (see :func:`write_genome_file`)."""
    df = pd.read_csv(path, sep="\t", header=None, names=["chrom", "size"], dtype={"chrom": str})
    return dict(zip(df["chrom"], df["size"].astype(int), strict=True))


def read_genes(path: str | Path) -> pd.DataFrame:
    """Read a gene table: BED with chrom, start, end, strand, gene id, symbol, biotype (or a GTF).

    A GTF (``.gtf``/``.gtf.gz``) is read from its ``gene`` lines (gene_id, gene_name, gene_type/biotype).
    """
    path = Path(path)
    if not path.is_file():
        raise PopcenInputError(path, "file not found")
    if path.name.endswith((".gtf", ".gtf.gz")):
        return _read_gtf_genes(path)
    try:
        df = pd.read_csv(path, sep="\t", header=None, comment="#", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise PopcenInputError(path, f"not a gene BED ({exc})") from None
    if df.shape[1] < 7:
        raise PopcenInputError(
            path, f"gene BED needs 7 columns ({', '.join(GENE_COLUMNS)}), found {df.shape[1]}"
        )
    df = df.iloc[:, :7]
    df.columns = GENE_COLUMNS
    if not df["strand"].isin(["+", "-", "."]).all():
        raise PopcenInputError(path, "column 4 must be the strand (+, - or .)")
    return _check_coordinates(df, path)


def select_biotypes(genes: pd.DataFrame, biotypes: list[str] | None, path=None) -> tuple[pd.DataFrame, int]:
    """The genes whose ``biotype`` is one of ``biotypes`` (all genes when it is empty or None).

    The published analysis scores protein-coding genes only (``introgression.gene_biotypes``, default
    ``[protein_coding]``); a GENCODE table also lists pseudogenes, lincRNAs, miRNAs and more.

    Returns
    -------
    (kept, n_dropped)

    Raises
    ------
    PopcenInputError
        When the table has genes but none of the wanted biotypes (it names the biotypes it does have).
    """
    if not biotypes:
        return genes.reset_index(drop=True), 0
    keep = genes["biotype"].isin(list(biotypes))
    if len(genes) and not keep.any():
        found = genes["biotype"].value_counts().head(8)
        raise PopcenInputError(
            path,
            f"no gene has a biotype in introgression.gene_biotypes ({', '.join(biotypes)}); the table has "
            + ", ".join(f"{b} ({n})" for b, n in found.items())
            + ". Set gene_biotypes to some of these, or to [] to keep every gene",
        )
    log.info(
        "gene table: %d of %d genes kept with biotype %s", int(keep.sum()), len(genes), ", ".join(biotypes)
    )
    return genes[keep].reset_index(drop=True), int((~keep).sum())


def _read_gtf_genes(path: Path) -> pd.DataFrame:
    gtf = pd.read_csv(
        path,
        sep="\t",
        header=None,
        comment="#",
        dtype=str,
        names=["chrom", "src", "feature", "start", "end", "score", "strand", "frame", "attr"],
    )
    gtf = gtf[gtf["feature"] == "gene"]
    if gtf.empty:
        raise PopcenInputError(path, "GTF has no 'gene' lines")

    def attr(name):
        return gtf["attr"].str.extract(rf'{name} "([^"]*)"', expand=False)

    df = pd.DataFrame(
        {
            "chrom": gtf["chrom"],
            "start": gtf["start"].astype(np.int64) - 1,  # GTF is 1-based inclusive
            "end": gtf["end"],
            "strand": gtf["strand"],
            "gene_id": attr("gene_id"),
            "symbol": attr("gene_name").fillna(attr("gene_id")),
            "biotype": attr("gene_type").fillna(attr("gene_biotype")).fillna("."),
        }
    )
    return _check_coordinates(df.reset_index(drop=True), path)


def _check_coordinates(df: pd.DataFrame, path) -> pd.DataFrame:
    try:
        df = df.astype({"start": np.int64, "end": np.int64})
    except (ValueError, TypeError):
        raise PopcenInputError(path, "start/end columns must be integers") from None
    bad = (df["start"] < 0) | (df["end"] <= df["start"])
    if bad.any():
        row = df[bad].iloc[0]
        raise PopcenInputError(
            path,
            f"{int(bad.sum())} intervals with start < 0 or end <= start, "
            f"e.g. {row['chrom']}:{row['start']}-{row['end']}",
        )
    return df.reset_index(drop=True)


def reconcile_contigs(names, reference_contigs) -> dict[str, str | None]:
    """Map contig names of a table to the reference's naming (``chr20`` <-> ``20``, ``chrM`` <-> ``MT``).

    Returns
    -------
    dict
        name -> reference contig name, or None when the reference has no such contig.
    """
    ref = set(reference_contigs)
    mapping: dict[str, str | None] = {}
    for name in pd.unique(pd.Series(list(names), dtype=str)):
        stem = name[3:] if name.lower().startswith("chr") else name
        candidates = [name, stem, f"chr{stem}"]
        if stem in ("M", "MT"):
            candidates += ["chrM", "MT", "M"]
        mapping[name] = next((c for c in candidates if c in ref), None)
    return mapping


def to_reference_contigs(
    df: pd.DataFrame, contig_sizes: dict[str, int], what: str, path=None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rename contigs to the reference's names; drop rows on absent contigs or past a contig end.

    Returns
    -------
    (table, counts)
        The kept rows (index reset) and counts ``{"input", "absent_contig", "past_contig_end", "kept"}``.

    Raises
    ------
    PopcenInputError
        When no contig of the table is in the reference (a naming mismatch the mapping cannot fix).
    """
    mapping = reconcile_contigs(df["chrom"], contig_sizes)
    if not any(v is not None for v in mapping.values()):
        raise PopcenInputError(
            path,
            f"none of the {what} contigs ({', '.join(list(mapping)[:5])}, ...) is in the "
            f"reference FASTA ({', '.join(list(contig_sizes)[:5])}, ...); check the "
            "contig naming of the two inputs",
        )
    renamed = df["chrom"].map(mapping)
    absent = renamed.isna()
    out = df.assign(chrom=renamed)[~absent]
    sizes = out["chrom"].map(contig_sizes)
    past = out["end"] > sizes
    out = out[~past].reset_index(drop=True)
    counts = {
        "input": len(df),
        "absent_contig": int(absent.sum()),
        "past_contig_end": int(past.sum()),
        "kept": len(out),
    }
    log.info(
        "%s: %d rows, %d dropped on contigs absent from the reference (%s), %d past a contig end, %d kept",
        what,
        counts["input"],
        counts["absent_contig"],
        ", ".join(sorted(k for k, v in mapping.items() if v is None)) or "none",
        counts["past_contig_end"],
        counts["kept"],
    )
    return out, counts


def sort_intervals(df: pd.DataFrame) -> pd.DataFrame:
    """Sort by chrom (string order), start, end: the order bedtools and the numpy overlap code expect."""
    return df.sort_values(["chrom", "start", "end"], kind="mergesort").reset_index(drop=True)


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals on one contig as sorted, disjoint ``(starts, ends)`` (touching ones merged)."""
    if len(starts) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.argsort(starts, kind="stable")
    s, e = np.asarray(starts, np.int64)[order], np.asarray(ends, np.int64)[order]
    run_end = np.maximum.accumulate(e)
    new = np.ones(len(s), bool)
    new[1:] = s[1:] > run_end[:-1]
    group = np.cumsum(new) - 1
    return s[new], np.maximum.reduceat(e, np.flatnonzero(new))[: group[-1] + 1]


def overlaps_any(q_starts, q_ends, m_starts, m_ends) -> np.ndarray:
    """For each query interval: does it overlap any of the merged, sorted intervals ``(m_starts, m_ends)``?

    Two half-open intervals overlap when each starts before the other ends (bedtools' definition).
    """
    q_starts, q_ends = np.asarray(q_starts, np.int64), np.asarray(q_ends, np.int64)
    # The first merged interval ending after the query start is the only candidate (they are disjoint).
    i = np.searchsorted(m_ends, q_starts, side="right")
    ok = i < len(m_starts)
    hit = np.zeros(len(q_starts), bool)
    hit[ok] = m_starts[i[ok]] < q_ends[ok]
    return hit


def overlap_groups(df: pd.DataFrame) -> np.ndarray:
    """Connected components of overlap: rows whose intervals (transitively) overlap share a group id."""
    groups = np.empty(len(df), np.int64)
    next_id = 0
    for _, sub in df.groupby("chrom", sort=True):
        order = np.argsort(sub["start"].to_numpy(), kind="stable")
        s, e = sub["start"].to_numpy()[order], sub["end"].to_numpy()[order]
        new = np.ones(len(s), bool)
        new[1:] = s[1:] >= np.maximum.accumulate(e)[:-1]
        ids = np.cumsum(new) - 1 + next_id
        groups[sub.index.to_numpy()[order]] = ids
        next_id = ids.max() + 1
    return groups


def write_bed(df: pd.DataFrame, path: str | Path, columns=("chrom", "start", "end")) -> None:
    df.loc[:, list(columns)].to_csv(path, sep="\t", header=False, index=False)
