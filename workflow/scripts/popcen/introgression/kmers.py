"""k-mer count matrices, computed straight into sparse CSR matrices.

A k-mer is coded as the integer of its bases in base 4 (A=0, C=1, G=2, T=3, first base most
significant), so that counting is an integer histogram and no k-mer string is ever built. Windows holding
a non-ACGT base are not counted. The vocabulary (the columns) is fixed when the training matrix is built,
saved, and every later matrix (the genes) is built on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

MAX_K = 12  # 4**12 = 16.8 M possible k-mers: the code lookup tables stay < 70 MB

_CODE = np.full(256, 4, np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
    _CODE[ord(chr(_b).lower())] = _i


def kmer_string(code: int, k: int) -> str:
    return "".join("ACGT"[(int(code) >> (2 * (k - 1 - j))) & 3] for j in range(k))


def kmer_strings(codes, k: int) -> list[str]:
    """The k-mers of ``codes`` as strings, in the same order (the column names of a count matrix)."""
    return [kmer_string(c, k) for c in codes]


def kmer_code(kmer: str) -> int:
    code = 0
    for b in kmer:
        code = code * 4 + "ACGT".index(b)
    return code


def reverse_complement_codes(k: int) -> np.ndarray:
    """``rc[c]`` = code of the reverse complement of the k-mer coded ``c`` (complement of base b is 3-b)."""
    codes = np.arange(4**k, dtype=np.int64)
    rc = np.zeros_like(codes)
    for j in range(k):
        base = (codes >> (2 * j)) & 3  # j-th base from the end
        rc = rc * 4 + (3 - base)
    return rc


def canonical_codes(k: int) -> np.ndarray:
    """``canon[c]`` = the smaller of a k-mer's code and its reverse complement's code."""
    codes = np.arange(4**k, dtype=np.int64)
    return np.minimum(codes, reverse_complement_codes(k))


def _window_codes(batch: list[bytes], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row (sequence index within ``batch``) and code of every valid k-mer window of the batch."""
    lengths = np.fromiter((len(s) for s in batch), np.int64, len(batch))
    # A separator base (code 4) after each sequence makes windows that cross two sequences invalid.
    joined = _CODE[np.frombuffer(b"N".join(batch) + b"N", np.uint8)]
    n_win = len(joined) - k + 1
    if n_win <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int32)
    bad = np.concatenate(([0], np.cumsum(joined == 4, dtype=np.int32)))
    valid = (bad[k:] - bad[:-k])[:n_win] == 0
    base = np.where(joined == 4, 0, joined).astype(np.int32)  # invalid windows are masked out below
    codes = base[:n_win].copy()
    for j in range(1, k):
        codes <<= 2
        codes |= base[j : j + n_win]
    rows = np.repeat(np.arange(len(batch)), lengths + 1)[:n_win]
    return rows[valid], codes[valid]


def count_kmers(
    seqs: list[bytes], k: int, canonical: bool = False, batch_bases: int = 5_000_000
) -> sp.csr_matrix:
    """Counts of every k-mer in every sequence, as a ``len(seqs) x 4**k`` CSR matrix (int32).

    Parameters
    ----------
    seqs : list of bytes
        Sequences (any case); non-ACGT bases break windows.
    k : int
        1 <= k <= MAX_K.
    canonical : bool
        Count a k-mer and its reverse complement together, in the column of the smaller code.
    batch_bases : int
        Sequences are processed in batches of about this many bases (memory: ~20 bytes per base).
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be in 1..{MAX_K}, got {k}")
    canon = canonical_codes(k).astype(np.int32) if canonical else None
    n_cols = 4**k
    blocks, batch, size = [], [], 0

    def flush():
        rows, codes = _window_codes(batch, k)
        if canon is not None:
            codes = canon[codes]
        if len(batch) * n_cols <= 4 * batch_bases:
            # small k: one histogram over (row, code) pairs, no sort
            dense = np.bincount(rows * n_cols + codes, minlength=len(batch) * n_cols).reshape(
                len(batch), n_cols
            )
            blocks.append(sp.csr_matrix(dense.astype(np.int32)))
        else:
            m = sp.coo_matrix(
                (np.ones(len(codes), np.int32), (rows, codes)), shape=(len(batch), n_cols)
            ).tocsr()
            m.sum_duplicates()
            blocks.append(m)

    for s in seqs:
        batch.append(s)
        size += len(s)
        if size >= batch_bases:
            flush()
            batch, size = [], 0
    if batch or not blocks:
        flush()
    return sp.vstack(blocks, format="csr", dtype=np.int32)


def build_vocabulary(counts: sp.csr_matrix) -> np.ndarray:
    """The codes of the k-mers seen at least once: the columns of the training matrix, sorted."""
    return np.flatnonzero(np.asarray(counts.sum(axis=0)).ravel() > 0)


def training_matrix(seqs: list[bytes], k: int, canonical: bool = False) -> tuple[sp.csr_matrix, np.ndarray]:
    """Counts of the k-mers seen in ``seqs`` (the columns) and the vocabulary: their codes, sorted."""
    full = count_kmers(seqs, k, canonical)
    vocabulary = build_vocabulary(full)
    return restrict(full, vocabulary), vocabulary


def restrict(counts: sp.csr_matrix, vocabulary: np.ndarray) -> sp.csr_matrix:
    """Columns of a full (``4**k``-column) count matrix, in vocabulary order; k-mers outside it dropped."""
    return counts[:, vocabulary].tocsr()


def save_vocabulary(vocabulary: np.ndarray, k: int, canonical: bool, path: str | Path) -> None:
    """JSON: k, canonical, and the k-mers as strings in column order (readable and exact)."""
    Path(path).write_text(
        json.dumps({"k": k, "canonical": canonical, "kmers": kmer_strings(vocabulary, k)}, indent=0)
    )


def load_vocabulary(path: str | Path) -> tuple[np.ndarray, int, bool]:
    meta = json.loads(Path(path).read_text())
    return np.array([kmer_code(s) for s in meta["kmers"]], np.int64), int(meta["k"]), bool(meta["canonical"])


def matrix_on_vocabulary(seqs: list[bytes], vocabulary: np.ndarray, k: int, canonical: bool) -> sp.csr_matrix:
    """Count matrix of new sequences (genes) on the training vocabulary (see :func:`load_vocabulary`):
    same columns, same order."""
    return restrict(count_kmers(seqs, k, canonical), vocabulary)


def top_kmers_per_class(counts: sp.csr_matrix, labels: np.ndarray, kmers: list[str], n: int):
    """The ``n`` k-mers with the highest mean frequency (count / all k-mers of the sequence) per class."""
    import pandas as pd

    totals = np.asarray(counts.sum(axis=1)).ravel().astype(float)
    freq = sp.diags(1.0 / np.maximum(totals, 1)) @ counts
    rows = []
    for label in np.unique(labels):
        mean = np.asarray(freq[labels == label].mean(axis=0)).ravel()
        for rank, j in enumerate(np.argsort(-mean, kind="stable")[:n], start=1):
            rows.append({"label": int(label), "rank": rank, "kmer": kmers[j], "mean_frequency": mean[j]})
    return pd.DataFrame(rows)
