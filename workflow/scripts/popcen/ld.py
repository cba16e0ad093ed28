"""LD pruning: windowed r² pruning (as plink's --indep-pairwise) with missing calls, and random subsets."""

from __future__ import annotations

import zlib

import numpy as np


def ld_prune(gn: np.ndarray, window: int, step: int, r2: float, iterations: int = 1, blen: int | None = None) -> np.ndarray:
    """Variants left unlinked by windowed r² pruning.

    Parameters
    ----------
    gn : (variants, samples) int8 alt-allele counts, -1 for a missing call
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
    gn = np.ascontiguousarray(gn, dtype=np.int8)
    keep = np.ones(len(gn), dtype=bool)
    if len(gn) < 2:
        return keep
    for _ in range(iterations):
        idx = np.flatnonzero(keep)
        if idx.size < 2:
            break
        unlinked = _prune_pass(BitGenotypes(gn[idx]), window, step, r2)
        if unlinked.all():
            break
        keep[idx[~unlinked]] = False
    return keep


def _prune_pass(bits: BitGenotypes, window: int, step: int, r2: float) -> np.ndarray:
    n = bits.n_variants
    keep = np.ones(n, dtype=bool)
    seen = 0  # variants [0, seen) were in an earlier window
    for start in range(0, n, step):
        stop = min(start + window, n)
        if stop <= seen:
            continue
        # Kept pairs that both lie in the previous window are already below the threshold, so only pairs
        # with a variant new to this window need r²: first against the earlier kept variants (which stay
        # kept), then among the new ones in order.
        new = np.arange(max(start, seen), stop)
        old = start + np.flatnonzero(keep[start:new[0]])
        linked = pair_r2(bits, np.concatenate([old, new]), new) > r2  # NaN (undefined r) never links
        alive = ~linked[:old.size].any(axis=0)
        among_new = linked[old.size:]
        for a in range(new.size - 1):
            if alive[a]:
                alive[a + 1:] &= ~among_new[a, a + 1:]
        keep[new[~alive]] = False
        seen = stop
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
    plink uses, and what makes pruning a chromosome take seconds in numpy.
    """

    def __init__(self, gn: np.ndarray):
        a, b, called = _pack(gn >= 1), _pack(gn == 2), _pack(gn >= 0)
        self.n_variants, self.n_samples = gn.shape
        self.a, self.b, self.called = a, b, called
        # sum over samples of x_i x_j = pop(a_i&a_j) + pop(b_i&b_j) + pop(b_i&a_j) + pop(a_i&b_j):
        # two popcounts over [a|b]&[a|b] and [b|a]&[a|b].
        self.ab = np.concatenate([a, b], axis=1)
        self.ba = np.concatenate([b, a], axis=1)
        self.complete = (gn >= 0).all(axis=1)
        pa, pb = _popcount(a), _popcount(b)
        self.sum, self.sum_sq = pa + pb, pa + 3 * pb


def _popcount(words: np.ndarray) -> np.ndarray:
    return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)


def _and_popcount(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _popcount(x[:, None, :] & y[None, :, :])


def pair_r2(bits: BitGenotypes, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(len(rows), len(cols)) r² between variants, over the samples called at both; NaN where a variant
    is constant over those samples."""
    sxy = _and_popcount(bits.ab[rows], bits.ab[cols]) + _and_popcount(bits.ba[rows], bits.ab[cols])
    if bits.complete[rows].all() and bits.complete[cols].all():
        n = bits.n_samples
        sx, sxx = bits.sum[rows][:, None], bits.sum_sq[rows][:, None]
        sy, syy = bits.sum[cols][None, :], bits.sum_sq[cols][None, :]
    else:
        # Pairwise-complete sums: each variant's planes restricted to the samples called at the other.
        n = _and_popcount(bits.called[rows], bits.called[cols])
        a_i = _and_popcount(bits.a[rows], bits.called[cols])
        b_i = _and_popcount(bits.b[rows], bits.called[cols])
        a_j = _and_popcount(bits.called[rows], bits.a[cols])
        b_j = _and_popcount(bits.called[rows], bits.b[cols])
        sx, sxx, sy, syy = a_i + b_i, a_i + 3 * b_i, a_j + b_j, a_j + 3 * b_j
    cov = (n * sxy - sx * sy).astype(np.float64)
    var = (n * sxx - sx * sx).astype(np.float64) * (n * syy - sy * sy)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, cov * cov / np.where(var > 0, var, 1.0), np.nan)


def random_subset(n: int, fraction: float, seed: int, key: str = "") -> np.ndarray:
    """Mask keeping round(fraction * n) of n items, at least one when n > 0, chosen reproducibly from
    ``seed`` and ``key`` (the contig, so that contigs do not all draw the same positions)."""
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    k = max(1, int(round(fraction * n)))
    keep[np.random.default_rng([seed, zlib.crc32(key.encode())]).choice(n, size=k, replace=False)] = True
    return keep
