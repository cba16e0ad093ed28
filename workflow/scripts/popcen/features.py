"""The per-cohort feature set: samples × variants alt-allele counts, a variant table and a sample table.

Layout of ``results/{cohort}/features/``::

    genotypes.zarr   zarr group, array ``alt_count``: int8 (samples, variants), -1 = missing call,
                     variants in genome order (cohort sheet contig order, then position)
    variants.tsv     id, chrom, pos, ref, alt, af, af_<POP> for each population of the first label column
    samples.tsv      sample, then the label columns
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("popcen")

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


class FeatureWriter:
    """Append per-contig blocks of (samples, variants) alt counts to a chunked Zarr array."""

    def __init__(self, folder: str | Path, n_samples: int, variant_chunk: int = 8192):
        import zarr

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / GENOTYPES
        shutil.rmtree(self.path, ignore_errors=True)
        root = zarr.open_group(str(self.path), mode="w")
        self.array = root.create_dataset(
            "alt_count", shape=(n_samples, 0), chunks=(min(max(n_samples, 1), 4096), variant_chunk),
            dtype="i1", fill_value=-1,
        )
        self.array.attrs["description"] = "alt-allele count per sample (rows) and variant (columns); -1 = missing"

    def append(self, block: np.ndarray) -> None:
        self.array.append(np.asarray(block, dtype=np.int8), axis=1)


def write_tables(folder: str | Path, variants: pd.DataFrame, samples: pd.DataFrame) -> None:
    folder = Path(folder)
    variants.to_csv(folder / VARIANTS, sep="\t", index=False)
    samples.to_csv(folder / SAMPLES, sep="\t", index=False)


def load_features(folder: str | Path, impute: str | None = None):
    """Load a cohort's features.

    Parameters
    ----------
    folder : ``results/{cohort}/features``
    impute : None keeps -1 for missing calls; ``"mean"`` replaces them by the variant's mean alt count
        (then the matrix is float32)

    Returns
    -------
    (alt_count, variants, samples): (samples, variants) array, variant table, sample table
    """
    import zarr

    folder = Path(folder)
    gn = zarr.open_group(str(folder / GENOTYPES), mode="r")["alt_count"][:]
    variants = pd.read_csv(folder / VARIANTS, sep="\t", dtype={"chrom": str, "id": str, "ref": str, "alt": str})
    samples = pd.read_csv(folder / SAMPLES, sep="\t", dtype=str, keep_default_na=False)
    if impute == "mean":
        gn = mean_impute(gn)
    elif impute is not None:
        raise ValueError(f"impute must be None or 'mean', not {impute!r}")
    return gn, variants, samples


def mean_impute(gn: np.ndarray) -> np.ndarray:
    """float32 copy of a (samples, variants) alt-count matrix with -1 replaced by the variant's mean."""
    x = gn.astype(np.float32)
    missing = gn < 0
    if missing.any():
        x[missing] = np.nan
        means = np.nan_to_num(np.nanmean(x, axis=0), nan=0.0)
        x[missing] = np.take(means, np.nonzero(missing)[1])
    return x
