"""Mini-batches of samples across every variant, read from the int8 feature store without loading it whole.

The sequence CAE (:mod:`popcen.models.seqcae`) trains on (B, 1, V) float32 batches: alt count / 2, a missing
call replaced by the variant's mean over the cohort's called samples (the values of
:func:`popcen.features.mean_impute` halved). :class:`GenotypeBatches` makes them from a (samples, variants)
int8 array, a Zarr array (``popcen.features.open_genotypes``) or numpy, holding at most ``buffer_samples``
rows (plus one store chunk) as int8 and one batch as float32.

Chunks. A Zarr read decompresses whole chunks. With all samples in one chunk row, every batch of samples
across all variants would decompress the whole matrix; ``FeatureWriter`` therefore writes chunks of
(32 samples, 8,192 variants) (:data:`popcen.features.SAMPLE_CHUNK`), so that a batch reads V / 8,192 chunks
per 32 samples and a block of variants n / 32 chunks per 8,192 variants, each only what it needs
(256 KiB per chunk; 79 × 123 = 9,717 chunks for 2,504 × 1 M variants).

Shuffling. The order is drawn per epoch from ``generator`` (a seeded ``torch.Generator``, which
:func:`popcen.training.fit` checkpoints, so that a resumed run sees the same batches): the store's row
chunks in a random order, ``buffer_samples // R`` of them read at a time, their rows shuffled together and
cut into batches (the rows left over carried into the next buffer, so that only the last batch of an epoch
is short). Cohorts list their samples population by population; 8 chunks of 32 rows from random places
mix about as well as a full shuffle for a batch of 32. A numpy array is treated as chunks of one row: a
full shuffle.

Holding the matrix instead: 2,504 × 1 M int8 is 2.5 GB, within the 8 GB budget of a cohort-wide rule, and a
plain numpy array given here is used as is. At 4 M variants it is 10 GB: then the streamed path, which
holds ``buffer_samples`` × V int8 (256 × 4 M = 1 GB) and one float32 batch (32 × 4 M × 4 B = 512 MB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from popcen.features import iter_variant_blocks

# Samples per batch when nothing is trained (latent codes, features, probabilities), fewer when a sample is
# wide: one float32 activation of (batch, values per sample) stays within INFER_ACTIVATION_BYTES (a sample
# of 1 M variants: batches of 64, 256 MB per activation; 256 of them took the classifier to 10.9 GB).
INFER_BATCH = 256
INFER_ACTIVATION_BYTES = 2**28


def infer_batch_size(values_per_sample: int, largest: int = INFER_BATCH) -> int:
    """Samples per inference batch for samples of ``values_per_sample`` values (input or activation)."""
    return int(np.clip(INFER_ACTIVATION_BYTES // (4 * max(int(values_per_sample), 1)), 8, largest))


def inference_batch(model, data) -> int:
    """Samples per inference batch of a CAE (or a CEC, through its ``cae``) over ``data``: sized by the
    model's widest activation (``config.widest_map``), else by the input's width."""
    config = getattr(getattr(model, "cae", model), "config", None)
    return infer_batch_size(getattr(config, "widest_map", None) or sample_width(data))


def sample_width(data) -> int:
    """Values per sample of a model's input: the variants of a GenotypeData, an image's pixels."""
    if isinstance(data, GenotypeData):
        return data.n_variants
    return int(np.prod(np.shape(data)[1:]))


def variant_means(alt_count, block: int | None = None) -> np.ndarray:
    """Mean alt count of each variant over its called samples (0 for a variant with no call), computed in
    variant blocks: the values :func:`popcen.features.mean_impute` puts in place of a missing call.

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int8 Zarr or numpy array, -1 = missing
    block : variants per block (default: the Zarr chunk width)

    Returns
    -------
    (n_variants,) float32
    """
    means = np.zeros(alt_count.shape[1], dtype=np.float32)
    for start, gn in iter_variant_blocks(alt_count, block):
        called = gn >= 0
        n = called.sum(axis=0)
        total = np.where(called, gn, 0).sum(axis=0, dtype=np.int64)
        # float32, the precision mean_impute takes its mean in: the imputed values match to rounding
        with np.errstate(invalid="ignore", divide="ignore"):
            means[start : start + gn.shape[1]] = np.where(n > 0, total / np.maximum(n, 1), 0.0)
    return means


def scale_rows(block: np.ndarray, means: np.ndarray) -> np.ndarray:
    """int8 rows (b, V) -> float32 (b, 1, V): count / 2, a missing call (-1) -> the variant's mean / 2."""
    x = block.astype(np.float32)
    missing = block < 0
    if missing.any():
        x[missing] = np.take(means, np.nonzero(missing)[1])
    x *= np.float32(0.5)
    return x[:, None, :]


class GenotypeBatches:
    """An iterable of (x,) or (x, index) batches over some samples of a (samples, variants) int8 array.

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int8 Zarr array (read chunk by chunk) or numpy array, -1 = missing
    rows : the samples to use (indices into the array's rows); default all
    batch_size : samples per batch
    shuffle : a new order every epoch (module docstring); else the rows in increasing order
    seed : seed of ``generator``
    means : per-variant means for the imputation (:func:`variant_means` of the whole cohort, computed when
        not given: a missing call gets the cohort's mean whichever split the sample is in)
    with_index : also yield each sample's row index (int64), e.g. for CEC's target P
    buffer_samples : rows read (and shuffled together) at a time
    chunk_samples : rows per read unit; default the Zarr array's row chunk, 1 for numpy

    Yields
    ------
    x : (B, 1, V) float32 tensor; index : (B,) int64 tensor (``with_index``)
    """

    def __init__(
        self,
        alt_count,
        rows=None,
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        means: np.ndarray | None = None,
        with_index: bool = False,
        buffer_samples: int = 256,
        chunk_samples: int | None = None,
    ):
        self.alt_count = alt_count
        n = alt_count.shape[0]
        self.rows = np.arange(n) if rows is None else np.sort(np.asarray(rows, dtype=np.int64))
        if len(self.rows) and (self.rows[0] < 0 or self.rows[-1] >= n):
            raise IndexError(f"rows outside 0..{n - 1}")
        self.batch_size = max(int(batch_size), 1)
        self.shuffle = shuffle
        self.with_index = with_index
        self.means = variant_means(alt_count) if means is None else np.asarray(means, dtype=np.float32)
        if chunk_samples is None:
            chunks = getattr(alt_count, "chunks", None)
            chunk_samples = int(chunks[0]) if chunks and not isinstance(alt_count, np.ndarray) else 1
        self.chunk_samples = max(int(chunk_samples), 1)
        self.buffer_chunks = max(int(buffer_samples) // self.chunk_samples, 1)
        # The rows of each read unit (store chunk) that this loader uses, in increasing order.
        unit = self.rows // self.chunk_samples
        self.units = [self.rows[unit == u] for u in np.unique(unit)]
        self.generator = torch.Generator().manual_seed(int(seed)) if shuffle else None

    @property
    def n_variants(self) -> int:
        return int(self.alt_count.shape[1])

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        """int8 rows (increasing, within one read unit) of every variant: the unit's row range, then a
        selection (a Zarr read decompresses whole chunks anyway)."""
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        block = np.asarray(self.alt_count[lo:hi], dtype=np.int8)
        return block[rows - lo]

    def _batch(self, block: np.ndarray, index: np.ndarray):
        x = torch.from_numpy(scale_rows(block, self.means))
        return (x, torch.from_numpy(index.astype(np.int64))) if self.with_index else (x,)

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(len(self.units), generator=self.generator).numpy()
        else:
            order = np.arange(len(self.units))
        carry_x = np.zeros((0, self.n_variants), dtype=np.int8)
        carry_i = np.zeros(0, dtype=np.int64)
        for start in range(0, len(order), self.buffer_chunks):
            picked = [self.units[u] for u in order[start : start + self.buffer_chunks]]
            index = np.concatenate([carry_i, *picked])
            block = np.concatenate([carry_x, *(self._read(r) for r in picked)])
            if self.shuffle:
                perm = torch.randperm(len(index), generator=self.generator).numpy()
                index, block = index[perm], block[perm]
            full = len(index) // self.batch_size * self.batch_size
            for b in range(0, full, self.batch_size):
                yield self._batch(block[b : b + self.batch_size], index[b : b + self.batch_size])
            carry_x, carry_i = block[full:], index[full:]
        if len(carry_i):
            yield self._batch(carry_x, carry_i)


class RowView:
    """Some rows of a (samples, variants) array, read in variant blocks: what
    :func:`popcen.features.iter_variant_blocks` (and so :mod:`popcen.streaming`) needs, for the training
    split of a Zarr store. Each read takes every sample of the block (a chunk is decompressed whole anyway)
    and keeps the rows."""

    def __init__(self, alt_count, rows):
        self.alt_count = alt_count
        self.rows = np.asarray(rows, dtype=np.int64)
        self.shape = (len(self.rows), alt_count.shape[1])
        chunks = getattr(alt_count, "chunks", None)
        self.chunks = (len(self.rows), int(chunks[1])) if chunks else None

    def __getitem__(self, key):
        rows, cols = key
        if rows != slice(None):
            raise IndexError("RowView reads blocks of variants: [:, start:stop]")
        return np.asarray(self.alt_count[:, cols], dtype=np.int8)[self.rows]


def pca_start(
    alt_count, rows, k: int, means: np.ndarray | None = None, seed: int = 0, block: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (V,) and top ``k`` principal axes (k, V) of the training samples, as the sequence CAE sees them
    (count / 2, a missing call = the cohort's mean / 2), streamed in variant blocks: the start of its
    ``pca_init`` path (:meth:`popcen.models.seqcae.SeqCAE.init_pca`).

    The sample scores T = U·S come from :func:`popcen.streaming.blocked_pca` of the rows; the axes from one
    more pass, Vᵀ = S⁻² Tᵀ X, block by block. (blocked_pca imputes a missing call with the mean of the rows
    rather than of the cohort: the two differ only on missing calls.)

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int8 Zarr or numpy array, -1 = missing
    rows : the training samples
    k : axes wanted (at most min(len(rows), V))
    means : the cohort's per-variant means (:func:`variant_means`), computed when not given
    """
    from popcen.features import iter_variant_blocks
    from popcen.streaming import blocked_pca

    view = RowView(alt_count, rows)
    if means is None:
        means = variant_means(alt_count, block)
    pca = blocked_pca(view, k, seed=seed, block=block)
    scores = pca.scores  # (n_rows, k)
    s2 = pca.explained_variance * max(len(view.rows) - 1, 1)  # squared singular values
    keep = s2 > 1e-12 * max(float(s2.max(initial=0.0)), 1e-300)
    mean = row_mean(alt_count, rows, means, block)
    axes = np.zeros((len(s2), view.shape[1]))
    for start, gn in iter_variant_blocks(view, block):
        x = scale_rows(gn, means[start : start + gn.shape[1]])[:, 0].astype(np.float64)
        axes[keep, start : start + x.shape[1]] = (
            scores[:, keep].T @ (x - mean[start : start + x.shape[1]])
        ) / s2[keep, None]
    return mean, axes


def row_mean(alt_count, rows, means: np.ndarray, block: int | None = None) -> np.ndarray:
    """(V,) float64 mean over ``rows`` of the loader's values (count / 2, a missing call = ``means`` / 2),
    streamed in variant blocks: the sequence CAE's per-variant bias starts there."""
    from popcen.features import iter_variant_blocks

    out = np.zeros(alt_count.shape[1])
    for start, gn in iter_variant_blocks(RowView(alt_count, rows), block):
        out[start : start + gn.shape[1]] = scale_rows(gn, means[start : start + gn.shape[1]])[:, 0].mean(
            axis=0, dtype=np.float64
        )
    return out


@dataclass
class GenotypeData:
    """A cohort's int8 alt counts as the sequence CAE reads them: the (samples, variants) array (Zarr or
    numpy, not loaded) and the per-variant means that replace a missing call. Stands where the image path
    passes an (n, 1, S, S) float32 array of images (:func:`sample_loader` takes either)."""

    alt_count: object
    means: np.ndarray

    @classmethod
    def of(cls, alt_count) -> GenotypeData:
        return cls(alt_count, variant_means(alt_count))

    def __len__(self) -> int:
        return int(self.alt_count.shape[0])

    def held(self, max_bytes: int) -> GenotypeData:
        """The same data with the int8 matrix read into memory when it takes at most ``max_bytes``: a model
        trained for many epochs (the classifier) then decompresses the store once instead of every epoch."""
        if isinstance(self.alt_count, np.ndarray) or len(self) * self.n_variants > max_bytes:
            return self
        return GenotypeData(np.asarray(self.alt_count[:], dtype=np.int8), self.means)

    @property
    def n_variants(self) -> int:
        return int(self.alt_count.shape[1])


def sample_loader(
    data, rows=None, *, batch_size: int, shuffle: bool = False, seed: int = 0, with_index: bool = False
):
    """Batches (x,) or (x, row index) of some samples of ``data``: a :class:`GenotypeBatches` over a
    :class:`GenotypeData`, or a :func:`popcen.training.make_loader` over an in-memory array (images)."""
    if isinstance(data, GenotypeData):
        return GenotypeBatches(
            data.alt_count,
            rows,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            means=data.means,
            with_index=with_index,
        )
    from popcen.training import make_loader

    if rows is None:  # the array itself, not a copy
        rows, selected = np.arange(len(data)), data
    else:
        rows = np.asarray(rows, dtype=np.int64)
        selected = data[rows]
    arrays = (selected, rows) if with_index else (selected,)
    return make_loader(*arrays, batch_size=batch_size, shuffle=shuffle, seed=seed)
