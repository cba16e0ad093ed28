"""LD pruning: windowed r² pruning (as plink's --indep-pairwise) with missing calls, and random subsets."""

from __future__ import annotations

import zlib

import numba
import numpy as np
from numba.core import types
from numba.extending import intrinsic


def ld_prune(
    gn: np.ndarray, window: int, step: int, r2: float, iterations: int = 1, blen: int | None = None
) -> np.ndarray:
    """Variants left unlinked by windowed r² pruning.

    Parameters
    ----------
    gn : (variants, samples) int8 alt-allele counts, -1 for a missing call; or their :class:`BitGenotypes`
    window, step : window size and step, in variants
    r2 : within a window, of a pair with r² above this the later variant is dropped
    iterations : passes over the survivors (a pass can leave pairs that were in different windows)
    blen : ignored; kept so that callers of the former scikit-allel-based version keep working

    Returns
    -------
    Boolean mask over the variants: True = kept.

    Notes
    -----
    Windows start every ``step`` variants; within a window, for each kept variant in order, every later kept
    variant whose r² with it exceeds ``r2`` is dropped (scikit-allel's ``locate_unlinked``, which this
    reproduces exactly). r is the Pearson correlation of alt counts (Rogers & Huff's composite r) over the
    samples called at both variants, computed from exact integer sums of bit-packed genotypes (see
    :func:`pair_r2`). Monomorphic variants have no defined r and are never dropped by pruning (QC removes
    them).
    """
    bits = gn if isinstance(gn, BitGenotypes) else BitGenotypes(gn)
    keep = np.ones(bits.n_variants, dtype=bool)
    if bits.n_variants < 2:
        return keep
    for _ in range(iterations):
        idx = np.flatnonzero(keep)
        if idx.size < 2:
            break
        unlinked = _prune_pass(*bits.planes, idx, window, step, r2)
        if unlinked.all():
            break
        keep[idx[~unlinked]] = False
    return keep


def _pack(mask: np.ndarray) -> np.ndarray:
    packed = np.packbits(mask, axis=1)
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


class BitGenotypes:
    """Alt counts as bit planes, 64 samples a word: ``a`` = count >= 1, ``b`` = count 2, ``called``.

    A count is a + b and its square a + 3b, so every sum r needs is a popcount of ANDed planes: the trick
    plink uses, and what makes pruning a chromosome take a second.
    """

    def __init__(self, gn: np.ndarray):
        gn = np.asarray(gn, dtype=np.int8)
        self.n_variants, self.n_samples = gn.shape
        self.a, self.b, self.called = _pack(gn >= 1), _pack(gn == 2), _pack(gn >= 0)
        self.complete = (gn >= 0).all(axis=1)
        pa, pb = _popcount(self.a), _popcount(self.b)
        self.sum, self.sum_sq = pa + pb, pa + 3 * pb

    @property
    def planes(self) -> tuple:
        """What the compiled kernels take, in their argument order."""
        return self.a, self.b, self.called, self.complete, self.sum, self.sum_sq, self.n_samples


def _popcount(words: np.ndarray) -> np.ndarray:
    return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)


def pair_r2(bits: BitGenotypes, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(len(rows), len(cols)) r² between variants, over the samples called at both; NaN where a variant
    is constant over those samples."""
    return _r2_matrix(*bits.planes, np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))


@intrinsic
def _ctpop(typingctx, x):
    """The CPU's popcount of a uint64 (LLVM's ctpop), typed int64: a uint64 added to an int64 would make
    numba compute in float."""

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.int64(types.uint64), codegen


@numba.njit(cache=True, nogil=True)
def _r2(a, b, called, complete, sums, sum_sqs, n_samples, i, j):
    """r² of variants i and j over the samples called at both (NaN when either is constant there).

    With x = a + b per sample: sum x_i x_j = pop(a_i&a_j) + pop(b_i&b_j) + pop(a_i&b_j) + pop(b_i&a_j).
    All sums are exact integers; the float arithmetic is the same as plain numpy's on those sums."""
    sxy = 0
    for w in range(a.shape[1]):
        ai, bi, aj, bj = a[i, w], b[i, w], a[j, w], b[j, w]
        sxy += _ctpop(ai & aj) + _ctpop(bi & bj) + _ctpop(ai & bj) + _ctpop(bi & aj)
    if complete[i] and complete[j]:
        n, sx, sxx, sy, syy = n_samples, sums[i], sum_sqs[i], sums[j], sum_sqs[j]
    else:
        # Pairwise-complete sums: each variant's planes restricted to the samples called at the other.
        n = a_i = b_i = a_j = b_j = 0
        for w in range(a.shape[1]):
            ci, cj = called[i, w], called[j, w]
            n += _ctpop(ci & cj)
            a_i += _ctpop(a[i, w] & cj)
            b_i += _ctpop(b[i, w] & cj)
            a_j += _ctpop(a[j, w] & ci)
            b_j += _ctpop(b[j, w] & ci)
        sx, sxx, sy, syy = a_i + b_i, a_i + 3 * b_i, a_j + b_j, a_j + 3 * b_j
    n, sxy, sx, sxx, sy, syy = (
        np.int64(n),
        np.int64(sxy),
        np.int64(sx),
        np.int64(sxx),
        np.int64(sy),
        np.int64(syy),
    )
    cov = np.float64(n * sxy - sx * sy)
    var = np.float64(n * sxx - sx * sx) * np.float64(n * syy - sy * sy)
    if var > 0:
        return cov * cov / var
    return np.nan


@numba.njit(cache=True, nogil=True)
def _r2_matrix(a, b, called, complete, sums, sum_sqs, n_samples, rows, cols):
    out = np.empty((rows.size, cols.size))
    for r in range(rows.size):
        for c in range(cols.size):
            out[r, c] = _r2(a, b, called, complete, sums, sum_sqs, n_samples, rows[r], cols[c])
    return out


@numba.njit(cache=True, nogil=True)
def _prune_pass(a, b, called, complete, sums, sum_sqs, n_samples, idx, window, step, threshold):
    """One pass of windowed pruning over variants ``idx`` (rows of the planes); True = kept.

    Windows [start, start + window) start every ``step``. Walking a window in order and dropping every
    later kept variant linked to a kept one is the same as: a variant new to the window (not in an earlier
    one) is dropped when any kept variant before it in the window is linked to it. Pairs that both lay in
    an earlier window were checked there (a variant kept now was kept then), so only new variants need
    checking, and each stops at its first linked partner."""
    n = idx.size
    keep = np.ones(n, dtype=np.bool_)
    seen = 0  # variants [0, seen) were in an earlier window
    for start in range(0, n, step):
        stop = min(start + window, n)
        if stop <= seen:
            continue
        for j in range(max(start, seen), stop):
            for i in range(start, j):
                # NaN (undefined r) compares False: it never links.
                if (
                    keep[i]
                    and _r2(a, b, called, complete, sums, sum_sqs, n_samples, idx[i], idx[j]) > threshold
                ):
                    keep[j] = False
                    break
        seen = stop
    return keep


def random_subset(n: int, fraction: float, seed: int, key: str = "") -> np.ndarray:
    """Mask keeping round(fraction * n) of n items, at least one when n > 0, chosen reproducibly from
    ``seed`` and ``key`` (the contig, so that contigs do not all draw the same positions)."""
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    k = max(1, int(round(fraction * n)))
    keep[np.random.default_rng([seed, zlib.crc32(key.encode())]).choice(n, size=k, replace=False)] = True
    return keep
