"""Genotype images: each sample's variant vector, in genome order, as a square grey-scale picture.

After the paper (Karim et al.): the alt-allele counts of a sample's LD-pruned variants are scaled to
[0, 1] and laid out row by row in a square just large enough to hold them (4,238 variants -> 66 × 66);
the unused pixels at the end are zero. A cap on the number of variants keeps the image size bounded on
whole-genome cohorts: the highest-variance variants are kept, still in genome order.

Every function that takes the cohort's alt counts takes the Zarr store itself as well as a numpy array:
variances are streamed in variant blocks and only the image's variants are read.
"""

from __future__ import annotations

import math

import numpy as np

from popcen.features import mean_impute, read_variant_columns
from popcen.streaming import variant_stats


def variant_variance(alt_count, block: int | None = None) -> np.ndarray:
    """Variance of each variant's alt count over the called samples (missing calls, -1, left out).

    Streamed: computed from integer sums over variant blocks (:func:`popcen.streaming.variant_stats`), so a
    Zarr store is read block by block and never held whole; equal variances give equal floats.

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int8 numpy or Zarr array, -1 = missing
    block : variants per block (default: the Zarr chunk width)

    Returns
    -------
    (n_variants,) float64; 0 for a variant with fewer than two calls
    """
    return variant_stats(alt_count, block=block)["variance"].to_numpy()


def select_variants(alt_count, max_variants: int | None, block: int | None = None) -> np.ndarray:
    """Indices of the variants kept for the images: all, or the ``max_variants`` of highest variance.

    Ties are broken by genome order (earlier first) so the choice does not depend on the sort algorithm;
    the returned indices are sorted, i.e. the image keeps genome order. Without a cap nothing is read.

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int8 numpy or Zarr array, -1 = missing (variances streamed in blocks)
    max_variants : int or None
        None or 0: no cap.
    block : variants per block of the variance pass

    Returns
    -------
    (k,) int array, increasing
    """
    n_variants = alt_count.shape[1]
    if not max_variants or max_variants >= n_variants:
        return np.arange(n_variants)
    var = variant_variance(alt_count, block)
    order = np.lexsort((np.arange(n_variants), -var))  # by variance descending, then position
    return np.sort(order[:max_variants])


def scale_genotypes(alt_count: np.ndarray) -> np.ndarray:
    """Alt counts (0, 1, 2; -1 missing) -> float32 in [0, 1] (count / 2), a missing call -> the variant's mean.

    The imputation is :func:`popcen.features.mean_impute` (a variant with no call at all gets 0, like the
    padding); halving afterwards is exact, so this equals imputing the halved values.

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int array

    Returns
    -------
    (n_samples, n_variants) float32
    """
    alt_count = np.asarray(alt_count)
    if alt_count.size and (alt_count.max() > 2 or alt_count.min() < -1):
        raise ValueError("alt counts must be 0, 1, 2 or -1 (missing)")
    return mean_impute(alt_count) / np.float32(2)


def image_side(n_variants: int) -> int:
    """Side of the smallest square that holds ``n_variants`` pixels (4,238 -> 66)."""
    if n_variants < 1:
        raise ValueError("an image needs at least one variant")
    return math.isqrt(n_variants - 1) + 1


def to_images(scaled: np.ndarray) -> np.ndarray:
    """Lay out (n_samples, n_variants) values row by row in zero-padded squares.

    Returns
    -------
    (n_samples, 1, side, side) float32: one channel, as convolutions expect
    """
    n, m = scaled.shape
    side = image_side(m)
    out = np.zeros((n, side * side), dtype=np.float32)
    out[:, :m] = scaled
    return out.reshape(n, 1, side, side)


def scaled_images(alt_count: np.ndarray, block: int = 8192) -> np.ndarray:
    """``to_images(scale_genotypes(alt_count))``, scaled a block of variants at a time straight into the
    images, so that no float copy of the whole matrix is made beside them (the imputation is per variant,
    so the values are the same).

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int array, -1 = missing
    block : variants scaled at a time

    Returns
    -------
    (n_samples, 1, side, side) float32
    """
    n, m = alt_count.shape
    side = image_side(m)
    out = np.zeros((n, side * side), dtype=np.float32)
    block = max(int(block), 1)
    for start in range(0, m, block):
        end = min(start + block, m)  # the pixels after the last variant stay 0
        out[:, start:end] = scale_genotypes(alt_count[:, start:end])
    return out.reshape(n, 1, side, side)


def genotype_images(
    alt_count, max_variants: int | None = None, variant_index=None, block: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images of every sample and the indices of the variants they hold.

    Out of core: with a cap the variances are streamed in variant blocks (:func:`select_variants`), then only
    the kept variants are read (an int8 (samples, k) orthogonal selection of a Zarr store,
    :func:`popcen.features.read_variant_columns`) and scaled block by block into the images
    (:func:`scaled_images`). Peak memory: the images, the int8 columns and one block.

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int8 numpy or Zarr array, -1 = missing, variants in genome order
    max_variants : int or None
        Cap on the variants (highest variance kept, genome order preserved).
    variant_index : int indices, optional
        The variants to lay out instead of choosing them (those a trained CAE saw: its ``variant_index``).
    block : variants per block of the variance pass (default: the Zarr chunk width)

    Returns
    -------
    images : (n_samples, 1, side, side) float32 in [0, 1]
    kept : (k,) int indices into the variants
    """
    if variant_index is not None:
        kept = np.asarray(variant_index, dtype=np.int64)
    else:
        kept = select_variants(alt_count, max_variants, block)
    return scaled_images(read_variant_columns(alt_count, kept)), kept
