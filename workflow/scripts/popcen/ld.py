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

    Returns
    -------
    Boolean mask over the variants: True = kept.

    Notes
    -----
    r is Rogers & Huff's composite correlation of alt counts, computed over the samples called at both
    variants (scikit-allel's ``locate_unlinked``, whose r² threshold we pass on). Monomorphic variants have
    no defined r and are never dropped by pruning (QC removes them).
    """
    import allel

    gn = np.ascontiguousarray(gn, dtype=np.int8)
    keep = np.ones(len(gn), dtype=bool)
    if len(gn) < 2:
        return keep
    for _ in range(iterations):
        idx = np.flatnonzero(keep)
        if idx.size < 2:
            break
        # scikit-allel compares r² (threshold is on r², see its docstring).
        unlinked = allel.locate_unlinked(gn[idx], size=window, step=step, threshold=r2, blen=blen or max(window, 10_000))
        if unlinked.all():
            break
        keep[idx[~unlinked]] = False
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
