"""Reading genotypes back from scikit-allel Zarr stores, a block of variants at a time."""

from __future__ import annotations

import numpy as np


def _diploid_table() -> np.ndarray:
    # Every pair of int8 alleles, as one uint16 in native byte order -> its alt count (-1: any missing).
    pairs = np.arange(1 << 16, dtype=np.uint16).view(np.int8).reshape(-1, 2)
    table = (pairs > 0).sum(axis=1).astype(np.int8)
    table[(pairs < 0).any(axis=1)] = -1
    return table


_DIPLOID = _diploid_table()


def is_diploid_int8(gt: np.ndarray) -> bool:
    return gt.dtype == np.int8 and gt.ndim == 3 and gt.shape[2] == 2


def alt_counts(gt: np.ndarray) -> np.ndarray:
    """Alt-allele count per call (0, 1, 2) from a (variants, samples, ploidy) GT block; -1 where any allele
    is missing. Only meaningful for bi-allelic records."""
    gt = np.asarray(gt)
    if is_diploid_int8(gt):
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
        out[done : done + hi - lo] = alt_counts(read_gt(gt, start, stop, cols))[rows[lo:hi] - start]
        done += hi - lo
    return out


# The QC -> pruning -> features hand-off: alt counts of the records that pass QC, over the kept samples.
# Bit-shuffled lz4 at level 1: values -1..2 leave 6 of 8 bit planes constant, so it is small (~1 bit per
# call here) and decompresses several times faster than GT (which also holds two alleles per call).
ALT_COUNT = "alt_count"
RECORD = "record"


class KeptAltCounts:
    """Writes a Zarr group of alt counts for the records that pass QC, a block of records at a time.

    Layout: ``alt_count`` int8 (records, samples), -1 = missing call; ``record`` int64, each row's record
    index in the contig's store and QC table (ascending); attribute ``samples``, the column names.
    """

    def __init__(self, path, samples: list[str], chunk: int = 8192):
        import zarr
        from numcodecs import Blosc

        n = len(samples)
        root = zarr.open_group(str(path), mode="w")
        self.alt_count = root.create_dataset(
            ALT_COUNT,
            shape=(0, n),
            chunks=(chunk, max(n, 1)),
            dtype="i1",
            fill_value=-1,
            compressor=Blosc("lz4", clevel=1, shuffle=Blosc.BITSHUFFLE),
        )
        self.record = root.create_dataset(RECORD, shape=(0,), chunks=(1 << 20,), dtype="i8")
        root.attrs["samples"] = list(samples)
        self.alt_count.attrs["description"] = (
            "alt-allele count of each record that passed QC (rows) for each "
            "kept sample (columns); -1 = missing"
        )

    def __call__(self, records: np.ndarray, gn: np.ndarray) -> None:
        """Append records (ascending, after those already written) and their (records, samples) counts."""
        self.alt_count.append(np.asarray(gn, dtype=np.int8), axis=0)
        self.record.append(np.asarray(records, dtype=np.int64))


def read_kept_alt_counts(
    path, samples: list[str] | None = None, records: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read a :class:`KeptAltCounts` group: (records, (records, samples) int8 alt counts).

    Parameters
    ----------
    samples : when given, must be the group's samples in order (raises ValueError otherwise)
    records : a subset of the stored records (ascending) to return; default all

    Raises
    ------
    KeyError
        A requested record is not in the group (it did not pass QC).
    """
    import zarr

    root = zarr.open_group(str(path), mode="r")
    if samples is not None and list(root.attrs["samples"]) != list(samples):
        raise ValueError(f"{path} holds other samples than those asked for")
    stored = root[RECORD][:]
    if records is None:
        return stored, root[ALT_COUNT][:]
    records = np.asarray(records, dtype=np.int64)
    at = np.searchsorted(stored, records)
    found = at < stored.size
    found[found] = stored[at[found]] == records[found]
    if not found.all():
        raise KeyError(f"record {int(records[~found][0])} did not pass QC: it is not in {path}")
    # A chunk of rows at a time (bounded memory), rows picked in numpy: faster than zarr's selection.
    counts = root[ALT_COUNT]
    out = np.empty((records.size, counts.shape[1]), dtype=np.int8)
    block = counts.chunks[0]
    for start in range(0, counts.shape[0], block):
        lo, hi = np.searchsorted(at, [start, start + block])
        if hi > lo:
            out[lo:hi] = counts[start : start + block][at[lo:hi] - start]
    return records, out
