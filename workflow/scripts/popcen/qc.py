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

import logging

import numpy as np
import pandas as pd

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
        (r in _BASES and a in _BASES for r, a in zip(ref, alt, strict=True)), dtype=bool, count=len(ref))
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
    key = pd.Series(list(zip(np.asarray(chrom)[candidate], np.asarray(pos)[candidate], strict=True)))
    dup = np.zeros(len(candidate), dtype=bool)
    dup[np.flatnonzero(candidate)] = key.duplicated(keep=False).to_numpy()
    return dup


def _diploid_table() -> np.ndarray:
    # Every pair of int8 alleles, as one uint16 in native byte order -> its alt count (-1: any missing).
    pairs = np.arange(1 << 16, dtype=np.uint16).view(np.int8).reshape(-1, 2)
    table = (pairs > 0).sum(axis=1).astype(np.int8)
    table[(pairs < 0).any(axis=1)] = -1
    return table


_DIPLOID = _diploid_table()


def alt_counts(gt: np.ndarray) -> np.ndarray:
    """Alt-allele count per call (0, 1, 2) from a (variants, samples, 2) GT block; -1 where any allele is
    missing. Only meaningful for bi-allelic records."""
    gt = np.asarray(gt)
    if gt.dtype == np.int8 and gt.ndim == 3 and gt.shape[2] == 2:
        # One table look-up per call (both alleles read as one uint16): several times faster than
        # reducing over the length-2 ploidy axis.
        return _DIPLOID[np.ascontiguousarray(gt).view(np.uint16)[..., 0]]
    missing = (gt < 0).any(axis=2)
    count = (gt > 0).sum(axis=2).astype(np.int8)
    count[missing] = -1
    return count


def read_gt(gt, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
    """GT rows [start, stop) of a Zarr array for the given sample columns (VCF order).

    Reads whole rows and picks columns in numpy: zarr's orthogonal selection over hundreds of columns is
    several times slower than decompressing the rows."""
    block = gt[start:stop]
    columns = np.asarray(columns)
    if columns.size == block.shape[1] and np.array_equal(columns, np.arange(block.shape[1])):
        return block
    return block[:, columns]


def call_stats(gn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Call rate, minor-allele count and minor-allele frequency of (variants, samples) alt counts."""
    n_called = (gn >= 0).sum(axis=1)
    # Missing calls are -1: adding their number back gives the alt count over the called ones.
    ac = gn.sum(axis=1, dtype=np.int64) + (gn.shape[1] - n_called)
    an = 2 * n_called
    mac = np.minimum(ac, an - ac)
    with np.errstate(invalid="ignore", divide="ignore"):
        maf = np.where(an > 0, mac / np.maximum(an, 1), 0.0)
        call_rate = n_called / gn.shape[1] if gn.shape[1] else np.zeros(len(gn))
    return call_rate, mac, maf


def variant_qc(store, sample_index: np.ndarray, min_call_rate: float, min_mac: int, min_maf: float,
               block: int = 50_000) -> pd.DataFrame:
    """QC every record of a scikit-allel Zarr store over the kept samples.

    Parameters
    ----------
    store : zarr group written by :func:`popcen.vcf.vcf_to_zarr`
    sample_index : columns (VCF sample positions) of the kept samples
    block : variants read at a time, to bound memory on whole chromosomes

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
    sample_index = np.asarray(sample_index)
    # Only the samples we keep and the bi-allelic SNVs are read, a block of variants at a time.
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = np.flatnonzero(status[start:stop] == KEPT)
        if rows.size == 0:
            continue
        gn = alt_counts(read_gt(gt, start, stop, sample_index))[rows]
        cr, mc, mf = call_stats(gn)
        call_rate[start + rows], mac[start + rows], maf[start + rows] = cr, mc, mf

    kept = status == KEPT
    for reason, fails in (
        ("low_call_rate", call_rate < min_call_rate),
        ("low_mac", mac < min_mac),
        ("low_maf", maf < min_maf),
    ):
        hit = kept & fails
        status[hit] = reason
        kept &= ~hit
    ids = np.array(["." if (i is None or i == "") else i for i in ids], dtype=object)
    return pd.DataFrame(
        {"chrom": chrom, "pos": pos, "id": ids, "ref": ref, "alt": alt, "call_rate": call_rate.round(6),
         "mac": mac, "maf": maf.round(6), "status": status}
    )


def summarise(table: pd.DataFrame) -> pd.Series:
    """Records per status, every reason listed (zeros included) so tables line up across contigs."""
    counts = table["status"].value_counts()
    return pd.Series({s: int(counts.get(s, 0)) for s in (KEPT, *REASONS)}, name="records")
