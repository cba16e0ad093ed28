"""The per-cohort feature set: samples × variants alt-allele counts, a variant table and a sample table.

Layout of ``results/{cohort}/features/``::

    genotypes.zarr   zarr group, array ``alt_count``: int8 (samples, variants), -1 = missing call,
                     variants in genome order (cohort sheet contig order, then position)
    variants.tsv     chrom, pos, id, ref, alt, af, af_<POP> for each population of the fine label level
    samples.tsv      sample, then the label columns
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from popcen.io import read_samples, read_variants

log = logging.getLogger("popcen")

# File names inside a features folder (the rules name them in rules/common.smk's FEATURES).
GENOTYPES = "genotypes.zarr"
VARIANTS = "variants.tsv"
SAMPLES = "samples.tsv"


def variant_ids(ids, chrom, pos, ref, alt) -> list[str]:
    """The VCF ID where there is one, else chrom:pos:ref:alt."""
    return [
        i if i not in (None, "", ".") else f"{c}:{p}:{r}:{a}"
        for i, c, p, r, a in zip(ids, chrom, pos, ref, alt, strict=True)
    ]


def allele_frequencies(gn: np.ndarray, groups: pd.Series | None = None) -> pd.DataFrame:
    """Alt-allele frequency of each variant of a (samples, variants) alt-count matrix, over called samples;
    overall (``af``) and, when ``groups`` (one label per sample) is given, per group (``af_<group>``)."""

    def _af(block: np.ndarray) -> np.ndarray:
        called = block >= 0
        an = 2 * called.sum(axis=0)
        ac = np.where(called, block, 0).sum(axis=0, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(an > 0, ac / np.maximum(an, 1), np.nan)

    out = {"af": _af(gn)}
    if groups is not None:
        groups = pd.Series(groups).reset_index(drop=True)
        for g in pd.unique(groups):
            out[f"af_{g}"] = _af(gn[(groups == g).to_numpy()])
    return pd.DataFrame(out).round(6)


def contig_variants(kept: pd.DataFrame, gn: np.ndarray, groups: pd.Series | None = None) -> pd.DataFrame:
    """The variant-table rows of one contig's pruned variants.

    Parameters
    ----------
    kept : the contig's pruned variants (``record, chrom, pos, id, ref, alt``, as rule ld_prune writes them)
    gn : their (samples, variants) alt counts
    groups : population of each sample (the fine label level), for the per-population frequencies

    Returns
    -------
    chrom, pos, id (the VCF ID, else chrom:pos:ref:alt), ref, alt, af, af_<POP>...
    """
    table = kept.drop(columns="record").reset_index(drop=True)
    table["id"] = variant_ids(table["id"], table["chrom"], table["pos"], table["ref"], table["alt"])
    return pd.concat([table, allele_frequencies(gn, groups)], axis=1)


# Chunk shape of genotypes.zarr: (SAMPLE_CHUNK samples, VARIANT_CHUNK variants), 256 KiB. A Zarr read
# decompresses whole chunks, so each of the two ways the store is read costs only what it reads: a block of
# variants across all samples (the per-variant statistics, popcen.streaming) reads n / 32 chunks per 8,192
# variants, a batch of samples across all variants (the sequence CAE's training, popcen.batches) V / 8,192
# chunks per 32 samples. With all samples in one chunk row, each such batch decompressed the whole matrix.
SAMPLE_CHUNK = 32
VARIANT_CHUNK = 8192


class FeatureWriter:
    """Append per-contig blocks of (samples, variants) alt counts to a chunked Zarr array at ``path``
    (a ``genotypes.zarr`` feature store, replaced when it exists), in chunks of (``sample_chunk``,
    ``variant_chunk``)."""

    def __init__(
        self,
        path: str | Path,
        n_samples: int,
        variant_chunk: int = VARIANT_CHUNK,
        sample_chunk: int = SAMPLE_CHUNK,
    ):
        import zarr

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.path, ignore_errors=True)
        root = zarr.open_group(str(self.path), mode="w")
        self.array = root.create_dataset(
            "alt_count",
            shape=(n_samples, 0),
            chunks=(min(max(n_samples, 1), sample_chunk), variant_chunk),
            dtype="i1",
            fill_value=-1,
        )
        self.array.attrs["description"] = (
            "alt-allele count per sample (rows) and variant (columns); -1 = missing"
        )

    def append(self, block: np.ndarray) -> None:
        self.array.append(np.asarray(block, dtype=np.int8), axis=1)


def read_genotypes(path: str | Path) -> np.ndarray:
    """The int8 (samples, variants) alt counts of a ``genotypes.zarr`` feature store (-1 = missing)."""
    import zarr

    return zarr.open_group(str(path), mode="r")["alt_count"][:]


def open_genotypes(path: str | Path):
    """The ``alt_count`` Zarr array of a ``genotypes.zarr`` feature store, opened read-only (nothing loaded)."""
    import zarr

    return zarr.open_group(str(path), mode="r")["alt_count"]


def iter_variant_blocks(alt_count, block: int | None = None):
    """Yield ``(start, int8 block)`` over the variants of a (samples, variants) alt-count array, in order.

    The streamed path of every per-variant statistic: at most ``samples x block`` int8 values are held at a
    time. ``alt_count`` is a Zarr array (blocks aligned to its variant chunks by default, so that each chunk
    is decompressed once) or anything sliceable with a ``shape`` (a numpy array in tests).

    Parameters
    ----------
    alt_count : (n_samples, n_variants) array-like of int8, -1 = missing
    block : variants per block; default: the Zarr chunk width, or 8,192

    Yields
    ------
    start : int, index of the block's first variant
    block : (n_samples, <= block) int8 numpy array
    """
    n_variants = alt_count.shape[1]
    if block is None:
        chunks = getattr(alt_count, "chunks", None)
        block = int(chunks[1]) if chunks else 8192
    for start in range(0, n_variants, max(int(block), 1)):
        yield start, np.asarray(alt_count[:, start : start + block], dtype=np.int8)


def variant_subset_blocks(alt_count, index, block: int | None = None):
    """Yield ``(start, int8 block)`` over the variants ``index`` (in that order) of a (samples, variants)
    alt-count array, ``start`` counting within ``index``: :func:`iter_variant_blocks` over a subset, each
    block read by :func:`read_variant_columns`."""
    index = np.asarray(index, dtype=np.int64).ravel()
    if block is None:
        chunks = getattr(alt_count, "chunks", None)
        block = int(chunks[1]) if chunks else 8192
    for start in range(0, len(index), max(int(block), 1)):
        yield start, read_variant_columns(alt_count, index[start : start + block])


def read_variant_columns(alt_count, index) -> np.ndarray:
    """The int8 (samples, len(index)) alt counts of the variants ``index`` (in that order), read alone.

    From a Zarr array, an orthogonal selection: only the chunks that hold those variants are read and
    decompressed, never the whole matrix. All variants in order are read as one slice. From a numpy
    array, ``alt_count[:, index]``.
    """
    index = np.asarray(index, dtype=np.int64).ravel()
    n_variants = alt_count.shape[1]
    if len(index) and (index.min() < 0 or index.max() >= n_variants):
        raise IndexError(f"variant index outside 0..{n_variants - 1}")
    if len(index) == n_variants and np.array_equal(index, np.arange(n_variants)):
        return np.asarray(alt_count[:, :], dtype=np.int8)
    if hasattr(alt_count, "get_orthogonal_selection"):
        return np.asarray(alt_count.get_orthogonal_selection((slice(None), index)), dtype=np.int8)
    return np.asarray(alt_count[:, index], dtype=np.int8)


def read_features(genotypes: str | Path, variants: str | Path, samples: str | Path):
    """(alt counts, variant table, samples table) of a cohort's feature set, from its three files."""
    return read_genotypes(genotypes), read_variants(variants), read_samples(samples)


def load_features(folder: str | Path, impute: str | None = None):
    """A cohort's features from its folder (``results/{cohort}/features``): :func:`read_features`
    on the three files, for callers that hold the folder rather than the files.

    ``impute``: None keeps -1 for missing calls; ``"mean"`` applies :func:`mean_impute` (float32).

    Returns (alt_count, variants, samples): (samples, variants) array, variant table, sample table.
    """
    folder = Path(folder)
    gn, variants, samples = read_features(folder / GENOTYPES, folder / VARIANTS, folder / SAMPLES)
    if impute == "mean":
        gn = mean_impute(gn)
    elif impute is not None:
        raise ValueError(f"impute must be None or 'mean', not {impute!r}")
    return gn, variants, samples


def mean_impute(gn: np.ndarray) -> np.ndarray:
    """float32 copy of a (samples, variants) alt-count matrix with -1 replaced by the variant's mean over
    its called samples (0 for a variant with no call at all). The one mean imputation of popcen."""
    x = gn.astype(np.float32)
    missing = gn < 0
    if missing.any():
        x[missing] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", RuntimeWarning
            )  # "mean of empty slice" for an all-missing variant
            means = np.nan_to_num(np.nanmean(x, axis=0), nan=0.0)
        x[missing] = np.take(means, np.nonzero(missing)[1])
    return x
