"""Variant QC: every record of a contig is kept or dropped with one reason.

Reasons are checked in this order, and a record gets the first that applies:

``no_alt``            ALT is '.' (a reference-only record)
``multiallelic``      more than one ALT allele
``symbolic``          ALT is symbolic (<CN0>, <INS:ME:ALU>, breakends, '*')
``indel``             REF and ALT differ in length
``mnp``               REF and ALT of equal length > 1
``non_acgt``          a base other than A, C, G, T
``duplicate_position`` another bi-allelic SNV sits at the same position (all copies are dropped: which
                      one is right cannot be told from the VCF)
``low_call_rate``     fewer than ``min_call_rate`` of the kept samples are called
``low_mac``           minor-allele count below ``min_mac`` (monomorphic sites fall here when min_mac >= 1)
``low_maf``           minor-allele frequency below ``min_maf``
"""

from __future__ import annotations

import gzip
import logging

import numba
import numpy as np
import pandas as pd

# alt_counts lives in popcen.zarrio (whose readers need no numba); imported from here by older callers.
from popcen.zarrio import alt_counts, is_diploid_int8

log = logging.getLogger("popcen")

KEPT = "kept"
TYPE_REASONS = ("no_alt", "multiallelic", "symbolic", "indel", "mnp", "non_acgt")
REASONS = (*TYPE_REASONS, "duplicate_position", "low_call_rate", "low_mac", "low_maf")
_ACGT = set("ACGT")
_BASES = _ACGT | set("acgt")


def classify_alleles(ref, alt, numalt) -> np.ndarray:
    """Status of each record from its alleles alone: ``kept`` for a bi-allelic SNV, else the reason."""
    status = np.full(len(ref), KEPT, dtype=object)
    # Most records are bi-allelic SNVs: find them with set look-ups, and walk the reasons for the rest only.
    simple = (np.asarray(numalt) == 1) & np.fromiter(
        (r in _BASES and a in _BASES for r, a in zip(ref, alt, strict=True)), dtype=bool, count=len(ref)
    )
    for i in np.flatnonzero(~simple):
        r, a, n = ref[i], alt[i], numalt[i]
        r = (r or "").upper()
        a = (a or "").upper()
        if n == 0 or a in ("", "."):
            status[i] = "no_alt"
        elif n > 1:
            status[i] = "multiallelic"
        elif a.startswith("<") or "[" in a or "]" in a or a == "*" or a.startswith("."):
            status[i] = "symbolic"
        elif len(r) != len(a):
            status[i] = "indel"
        elif len(r) > 1:
            status[i] = "mnp"
        elif r not in _ACGT or a not in _ACGT:
            status[i] = "non_acgt"
    return status


def duplicated_positions(chrom, pos, candidate: np.ndarray) -> np.ndarray:
    """True for every candidate record whose (chrom, pos) is shared with another candidate record."""
    # (chrom, pos) as one int64 key (chrom's code in the high half): hashing ints, not tuples.
    codes = pd.factorize(np.asarray(chrom, dtype=object)[candidate])[0].astype(np.int64)
    key = (codes << 32) | np.asarray(pos, dtype=np.int64)[candidate]
    dup = np.zeros(len(candidate), dtype=bool)
    dup[np.flatnonzero(candidate)] = pd.Series(key).duplicated(keep=False).to_numpy()
    return dup


@numba.njit(cache=True, nogil=True)
def diploid_counts(calls, rows, columns):
    """Alt counts at the given rows and sample columns of diploid calls, each call's two int8 alleles read
    as one uint16 ((variants, samples) array): -1 where an allele is missing (negative: its high bit set),
    else how many of its two bytes are non-zero. Also each row's number of called samples and alt-allele
    sum over them: one pass over the calls instead of a copy for the selection and a reduction per
    statistic. With every sample in order no column is looked up (3x faster than a permuted selection)."""
    gn = np.empty((rows.size, columns.size), dtype=np.int8)
    n_called = np.zeros(rows.size, dtype=np.int64)
    alt_sum = np.zeros(rows.size, dtype=np.int64)
    every_sample = columns.size == calls.shape[1]
    for c in range(columns.size):
        if every_sample and columns[c] != c:
            every_sample = False
    for r in range(rows.size):
        src, out = calls[rows[r]], gn[r]
        missing = 0
        total = 0
        for c in range(columns.size):
            w = src[c] if every_sample else src[columns[c]]
            m = (w & 0x8080) != 0
            x = np.int8((w & 0x00FF) != 0) + np.int8((w & 0xFF00) != 0)
            out[c] = np.int8(-1) if m else x
            missing += np.int64(m)
            total += np.int64(0 if m else x)
        n_called[r] = columns.size - missing
        alt_sum[r] = total
    return gn, n_called, alt_sum


def as_calls(gt: np.ndarray) -> np.ndarray:
    """A (variants, samples, 2) int8 GT block as (variants, samples) uint16, both alleles of a call."""
    return np.ascontiguousarray(gt).view(np.uint16)[..., 0]


def call_stats(gn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Call rate, minor-allele count and minor-allele frequency of (variants, samples) alt counts."""
    n_called = (gn >= 0).sum(axis=1)
    # Missing calls are -1: adding their number back gives the alt count over the called ones.
    alt_sum = gn.sum(axis=1, dtype=np.int64) + (gn.shape[1] - n_called)
    return _stats_from_sums(n_called, alt_sum, gn.shape[1])


def _stats_from_sums(n_called: np.ndarray, alt_sum: np.ndarray, n_samples: int):
    an = 2 * n_called
    mac = np.minimum(alt_sum, an - alt_sum)
    with np.errstate(invalid="ignore", divide="ignore"):
        maf = np.where(an > 0, mac / np.maximum(an, 1), 0.0)
        call_rate = n_called / n_samples if n_samples else np.zeros(len(n_called))
    return call_rate, mac, maf


def _count_block(gt, start: int, stop: int, rows: np.ndarray, columns: np.ndarray):
    """Alt counts of records ``rows`` (within [start, stop)) over sample ``columns``, and their stats."""
    block = gt[start:stop]  # whole rows: zarr's orthogonal selection is slower than decompressing them
    if is_diploid_int8(block):
        gn, n_called, alt_sum = diploid_counts(as_calls(block), rows - start, columns)
        return gn, _stats_from_sums(n_called, alt_sum, columns.size)
    gn = alt_counts(block[:, columns])[rows - start]
    return gn, call_stats(gn)


def variant_qc(
    store,
    sample_index: np.ndarray,
    min_call_rate: float,
    min_mac: int,
    min_maf: float,
    block: int = 50_000,
    kept_genotypes=None,
) -> pd.DataFrame:
    """QC every record of a scikit-allel Zarr store over the kept samples.

    Parameters
    ----------
    store : zarr group written by :func:`popcen.vcf.vcf_to_zarr`
    sample_index : columns (VCF sample positions) of the kept samples
    block : variants read at a time, to bound memory on whole chromosomes
    kept_genotypes : optional callable ``(records, gn)``, called once per block in file order with the rows
        of the records that pass QC and their (variants, samples) int8 alt counts over the kept samples
        (-1 = missing): what pruning needs, handed over without decompressing GT a second time

    Returns
    -------
    DataFrame with one row per record, in file order: chrom, pos, id, ref, alt, call_rate, mac, maf, status.
    """
    chrom = store["variants/CHROM"][:]
    pos = store["variants/POS"][:]
    ref = store["variants/REF"][:]
    alt = store["variants/ALT"][:]
    if alt.ndim == 2:
        alt = alt[:, 0]
    numalt = store["variants/numalt"][:]
    ids = store["variants/ID"][:]
    status = classify_alleles(ref, alt, numalt)
    snv = status == KEPT
    status[duplicated_positions(chrom, pos, snv)] = "duplicate_position"

    n = len(pos)
    call_rate = np.full(n, np.nan)
    mac = np.full(n, -1, dtype=np.int64)
    maf = np.full(n, np.nan)
    gt = store["calldata/GT"]
    sample_index = np.asarray(sample_index, dtype=np.int64)
    # Only the bi-allelic SNVs are counted, over the samples we keep, a block of variants at a time; the
    # thresholds depend on a record alone, so each block's records get their final status at once.
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = start + np.flatnonzero(status[start:stop] == KEPT)
        if rows.size == 0:
            continue
        gn, (call_rate[rows], mac[rows], maf[rows]) = _count_block(gt, start, stop, rows, sample_index)
        passed = _apply_thresholds(status, rows, call_rate, mac, maf, min_call_rate, min_mac, min_maf)
        if kept_genotypes is not None:
            kept_genotypes(rows[passed], gn[passed])
    ids = np.array(["." if (i is None or i == "") else i for i in ids], dtype=object)
    return pd.DataFrame(
        {
            "chrom": chrom,
            "pos": pos,
            "id": ids,
            "ref": ref,
            "alt": alt,
            "call_rate": call_rate.round(6),
            "mac": mac,
            "maf": maf.round(6),
            "status": status,
        }
    )


def _apply_thresholds(status, rows, call_rate, mac, maf, min_call_rate, min_mac, min_maf) -> np.ndarray:
    """Set the status of records ``rows`` (bi-allelic SNVs) that fail a threshold, the first failing in
    the documented order; returns the mask over ``rows`` of those that pass every one."""
    passed = np.ones(rows.size, dtype=bool)
    for reason, fails in (
        ("low_call_rate", call_rate[rows] < min_call_rate),
        ("low_mac", mac[rows] < min_mac),
        ("low_maf", maf[rows] < min_maf),
    ):
        hit = passed & fails
        status[rows[hit]] = reason
        passed &= ~hit
    return passed


def write_table(table: pd.DataFrame, path) -> None:
    """Write a QC table as gzip-compressed TSV (level 1), byte for byte the text of pandas'
    ``to_csv(sep="\\t", index=False)``, in about a third of its time.

    Columns repeat few values (status, alleles, call rates, MACs), so each distinct value is formatted once
    and the text taken by index; floats as numpy's shortest round-trip text and NaN as an empty cell, as
    pandas writes them; fields holding a tab, quote or line break quoted as pandas' csv writer does. Level 1:
    level 9 (pandas' default) cost more than the QC itself on a chr22-scale contig."""
    columns = [_column_text(table[name].to_numpy()) for name in table.columns]
    lines = ["\t".join(_quoted(str(c)) for c in table.columns), *map("\t".join, zip(*columns, strict=True))]
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(("\n".join(lines) + "\n").encode())


def _column_text(values: np.ndarray) -> list[str]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # NaN / None -> code -1
    uniques = np.asarray(uniques)
    if uniques.dtype.kind in "fiub":
        text = uniques.astype(str).tolist()
    else:
        text = [_quoted(str(v)) for v in uniques.tolist()]
    return np.array([*text, ""], dtype=object)[codes].tolist()


def _quoted(field: str) -> str:
    """A field as the csv module's minimal quoting writes it with a tab delimiter."""
    if any(c in field for c in '\t"\n\r'):
        return '"' + field.replace('"', '""') + '"'
    return field


def summarise(table: pd.DataFrame) -> pd.Series:
    """Records per status, every reason listed (zeros included) so tables line up across contigs."""
    counts = table["status"].value_counts()
    return pd.Series({s: int(counts.get(s, 0)) for s in (KEPT, *REASONS)}, name="records")


# What to do when a reason took every record (see :func:`why_none_kept`).
_NONE_KEPT_HINTS = {
    "no_alt": "the VCF holds reference calls only: use one with variant sites",
    "multiallelic": "split them into bi-allelic records (bcftools norm -m -any)",
    "symbolic": "popcen analyses bi-allelic SNVs: use a VCF that holds some (bcftools view -v snps)",
    "indel": "popcen analyses bi-allelic SNVs: use a VCF that holds some (bcftools view -v snps)",
    "mnp": "popcen analyses bi-allelic SNVs: split MNPs (bcftools norm -a) or use a VCF of SNVs",
    "non_acgt": "REF and ALT must be A, C, G or T: check the VCF's alleles",
    "duplicate_position": "records share their positions: remove duplicates (bcftools norm -d all)",
    "low_call_rate": "most calls are missing: check the VCF's genotypes, or lower qc.min_call_rate",
    "low_mac": "no variant is polymorphic enough in the kept samples: keep more samples or lower qc.min_mac",
    "low_maf": "no variant is common enough in the kept samples: keep more samples or lower qc.min_maf",
}


def why_none_kept(counts: pd.Series) -> str:
    """Why a cohort has no variant, from :func:`summarise`'s counts (summed over its contigs): what dropped
    the records, and what to do about the commonest reason. One line, for an error message."""
    total = int(counts.sum())
    if total == 0:
        return "the VCFs hold no record"
    if counts.get(KEPT, 0):
        return f"LD pruning kept none of the {int(counts[KEPT])} variants that passed QC"
    dropped = counts.drop(KEPT, errors="ignore")
    dropped = dropped[dropped > 0].sort_values(ascending=False, kind="stable")
    top = dropped.index[0]
    if dropped.iloc[0] == total:
        what = f"all {total} records were dropped as {top}"
    else:
        what = f"all {total} records were dropped by QC ({', '.join(f'{r} {n}' for r, n in dropped.items())})"
    return f"{what}; {_NONE_KEPT_HINTS[top]}"


def summary_table(statuses: dict[str, pd.Series], pruned: dict[str, int]) -> pd.DataFrame:
    """Records per status of each contig, their total, and the variants left after LD pruning.

    Parameters
    ----------
    statuses : contig -> the ``status`` column of its QC table (in the cohort sheet's contig order)
    pruned : contig -> number of variants rule ld_prune kept

    Returns
    -------
    One row per contig (index ``contig``) then a ``total`` row; columns ``kept``, every reason, ``records``,
    ``ld_pruned_kept``.
    """
    rows = {}
    for contig, status in statuses.items():
        counts = summarise(pd.DataFrame({"status": status}))
        counts["records"] = counts.sum()
        counts["ld_pruned_kept"] = pruned[contig]
        rows[contig] = counts
    table = pd.DataFrame(rows).T
    table.loc["total"] = table.sum()
    table.index.name = "contig"
    return table
