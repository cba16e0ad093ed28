"""Reading genotypes back from scikit-allel Zarr stores, a block of variants at a time."""

from __future__ import annotations

import numpy as np

from popcen.qc import alt_counts, read_gt


def sample_columns(store, samples: list[str]) -> np.ndarray:
    """VCF column of each named sample in a store (raises KeyError naming the first missing one)."""
    position = {s: i for i, s in enumerate(store["samples"][:])}
    missing = [s for s in samples if s not in position]
    if missing:
        raise KeyError(f"sample {missing[0]!r} is not in the store")
    return np.array([position[s] for s in samples], dtype=np.int64)


def read_alt_counts(store, rows: np.ndarray, samples: list[str], block: int = 50_000) -> np.ndarray:
    """(len(rows), len(samples)) int8 alt-allele counts, -1 = missing, for the given record rows
    (sorted ascending) and samples of a store. Reads only the blocks that hold wanted rows."""
    cols = sample_columns(store, samples)
    gt = store["calldata/GT"]
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((rows.size, cols.size), dtype=np.int8)
    n = gt.shape[0]
    done = 0
    for start in range(0, n, block):
        stop = min(start + block, n)
        lo, hi = np.searchsorted(rows, [start, stop])
        if hi == lo:
            continue
        out[done:done + hi - lo] = alt_counts(read_gt(gt, start, stop, cols))[rows[lo:hi] - start]
        done += hi - lo
    return out
