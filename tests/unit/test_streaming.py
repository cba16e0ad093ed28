"""The streamed paths give what the in-memory ones give (issue 16): per-variant statistics, the image
variants and images read from a Zarr store with small chunks, and the blocked PCA against sklearn's."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from sklearn.decomposition import PCA

from popcen.clustering.baselines import run_baselines
from popcen.features import FeatureWriter, open_genotypes, read_variant_columns
from popcen.images import (
    genotype_images,
    scale_genotypes,
    scaled_images,
    select_variants,
    to_images,
    variant_variance,
)
from popcen.streaming import blocked_pca, variant_stats

CHUNK = 37  # variants per Zarr chunk: several blocks, the last one partial


def _cohort(seed=0, n=45, m=300):
    """Alt counts of n samples in 3 groups x m variants, 5 % missing, and some edge cases: a variant
    without any call, one with a single call, a monomorphic one."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(["A", "B", "C"], [20, 15, 10])[:n]
    freqs = rng.uniform(0.05, 0.95, size=(3, m))
    rows = np.searchsorted(np.array(["A", "B", "C"]), groups)
    gn = rng.binomial(2, freqs[rows]).astype(np.int8)
    gn[rng.random(gn.shape) < 0.05] = -1
    gn[:, 5] = -1
    gn[:, 6] = -1
    gn[3, 6] = 2
    gn[:, 7] = 1
    return gn, groups


def _store(tmp_path, gn, name="genotypes.zarr"):
    FeatureWriter(tmp_path / name, len(gn), variant_chunk=CHUNK).append(gn)
    return open_genotypes(tmp_path / name)


def _column_stats(gn):
    """Straightforward numpy, one variant at a time: (n_called, mean, variance, af)."""
    out = []
    for j in range(gn.shape[1]):
        calls = gn[:, j][gn[:, j] >= 0].astype(float)
        if len(calls) == 0:
            out.append((0, np.nan, 0.0, np.nan))
        else:
            var = np.var(calls) if len(calls) >= 2 else 0.0
            out.append((len(calls), calls.mean(), var, calls.mean() / 2))
    return np.array(out)


def test_streamed_statistics_equal_those_of_the_whole_matrix(tmp_path):
    gn, groups = _cohort()
    store = _store(tmp_path, gn)
    assert store.chunks[1] == CHUNK and store.shape[1] > 5 * CHUNK
    stats = variant_stats(store, groups=groups)
    expected = _column_stats(gn)
    for i, col in enumerate(["n_called", "mean", "variance", "af"]):
        np.testing.assert_allclose(stats[col], expected[:, i], rtol=1e-12, equal_nan=True, err_msg=col)
    for g in ["A", "B", "C"]:
        sub = _column_stats(gn[groups == g])
        np.testing.assert_allclose(stats[f"variance_{g}"], sub[:, 2], rtol=1e-12)
        np.testing.assert_allclose(stats[f"af_{g}"], sub[:, 3], rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(stats[f"n_called_{g}"], sub[:, 0])
    # a block size that matches no chunk gives the same numbers, and so does the numpy array
    np.testing.assert_array_equal(variant_variance(store, block=11), variant_variance(gn))
    np.testing.assert_allclose(variant_variance(gn), expected[:, 2], rtol=1e-12)


def _exact_top(gn, k):
    """The k highest-variance variants by exact rational variance, ties by genome order, sorted."""
    keys = []
    for j in range(gn.shape[1]):
        calls = [int(v) for v in gn[:, j] if v >= 0]
        n = len(calls)
        var = Fraction(n * sum(c * c for c in calls) - sum(calls) ** 2, n * n) if n >= 2 else Fraction(0)
        keys.append((-var, j))
    return sorted(j for _, j in sorted(keys)[:k])


def test_streamed_selection_and_images_equal_the_in_memory_ones(tmp_path):
    # 12 samples: few distinct variances, many exact ties for the genome-order tie-break to settle
    gn, _ = _cohort(seed=1, n=12, m=260)
    store = _store(tmp_path, gn)
    expected = _exact_top(gn, 100)
    assert select_variants(store, 100).tolist() == expected
    assert select_variants(gn, 100).tolist() == expected
    images, kept = genotype_images(store, max_variants=100)
    assert kept.tolist() == expected
    np.testing.assert_array_equal(images, to_images(scale_genotypes(gn[:, expected])))
    # the CAE's variants, read back for CEC / the classifier; and no cap (every variant)
    index = [0, 3, 36, 37, 38, 150, 259]
    np.testing.assert_array_equal(read_variant_columns(store, index), gn[:, index])
    images, _ = genotype_images(store, variant_index=index)
    np.testing.assert_array_equal(images, to_images(scale_genotypes(gn[:, index])))
    images, kept = genotype_images(store)
    assert kept.tolist() == list(range(gn.shape[1]))
    np.testing.assert_array_equal(images, to_images(scale_genotypes(gn)))
    # scaled a few variants at a time into the images (the last block partial, the padding left at 0)
    np.testing.assert_array_equal(scaled_images(gn, block=7), to_images(scale_genotypes(gn)))


class _Recorder:
    """A numpy array that records the number of variants of every read."""

    def __init__(self, gn):
        self.gn, self.shape, self.dtype, self.chunks, self.widths = (
            gn,
            gn.shape,
            gn.dtype,
            (len(gn), CHUNK),
            [],
        )

    def __getitem__(self, key):
        out = self.gn[key]
        self.widths.append(out.shape[1])
        return out

    def get_orthogonal_selection(self, key):
        return self[key]


def test_the_streamed_paths_read_one_block_at_a_time():
    gn, _ = _cohort(m=400)
    store = _Recorder(gn)
    select_variants(store, 50)
    blocked_pca(store, 3, n_iter=2)
    assert store.widths and max(store.widths) <= CHUNK
    store.widths.clear()
    genotype_images(store, variant_index=[1, 100, 399])
    assert store.widths == [3]


def _low_rank_cohort(seed=0, n=150, m=3000):
    """Genotypes whose allele frequencies follow 3 sample factors of clearly different weights (well-separated
    leading components), 2 % missing."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 3)) * np.array([3.0, 2.0, 1.2])
    loadings = rng.normal(size=(3, m)) * 0.06
    p = np.clip(0.5 + factors @ loadings, 0.02, 0.98)
    gn = rng.binomial(2, p).astype(np.int8)
    gn[rng.random(gn.shape) < 0.02] = -1
    return gn


def _abs_corr(a, b):
    return np.array([abs(np.corrcoef(a[:, i], b[:, i])[0, 1]) for i in range(a.shape[1])])


def test_blocked_pca_equals_sklearn_up_to_sign(tmp_path):
    gn = _low_rank_cohort()
    store = _store(tmp_path, gn)
    scaled = scale_genotypes(gn)
    reference = PCA(n_components=3, svd_solver="full").fit(scaled)
    expected = reference.transform(scaled)
    result = blocked_pca(store, 3, seed=0)
    assert result.scores.shape == (150, 3)
    assert (_abs_corr(result.scores, expected) > 0.999).all()
    np.testing.assert_allclose(result.explained_variance, reference.explained_variance_, rtol=1e-3)
    np.testing.assert_allclose(
        result.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-3
    )
    assert result.passes == 15 + 2


def _r2_of_each(exact: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """R² of each exact component regressed on all the scores: a rotation within the kept subspace is fine."""
    design = np.c_[scores, np.ones(len(scores))]
    fitted = design @ np.linalg.lstsq(design, exact, rcond=None)[0]
    return 1 - ((exact - fitted) ** 2).sum(0) / ((exact - exact.mean(0)) ** 2).sum(0)


def test_blocked_pca_resolves_close_components():
    """16 populations at Fst 0.01 (Balding-Nichols): 15 structured components whose eigenvalues are close to
    each other and to the noise, as on real cohorts past the first few. The default range finder keeps each
    of them (R² ≥ 0.98 from the 20 scores); sklearn's settings for few components (7 iterations, 10 extra
    columns), which this function used before, lost up to half of some."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 3000)
    fst = 0.01
    freqs = rng.beta(p * (1 - fst) / fst, (1 - p) * (1 - fst) / fst, size=(16, 3000))
    gn = rng.binomial(2, np.repeat(freqs, 40, axis=0)).astype(np.int8)
    exact = PCA(20, svd_solver="full").fit_transform(scale_genotypes(gn).astype(np.float64))[:, :15]
    assert _r2_of_each(exact, blocked_pca(gn, 20, seed=0).scores).min() >= 0.98
    assert _r2_of_each(exact, blocked_pca(gn, 20, seed=0, n_iter=7, oversamples=10).scores).min() < 0.9


def test_blocked_pca_is_exact_when_the_range_holds_every_sample(tmp_path):
    gn, _ = _cohort(seed=2, n=20, m=200)
    store = _store(tmp_path, gn)
    scaled = scale_genotypes(gn).astype(np.float64)
    reference = PCA(n_components=5, svd_solver="full").fit(scaled)
    expected = reference.transform(scaled)
    result = blocked_pca(store, 5, oversamples=20, n_iter=1)  # l = 20 = samples: Q spans them all
    signs = np.sign((result.scores * expected).sum(axis=0))
    np.testing.assert_allclose(result.scores, expected * signs, atol=1e-4)
    np.testing.assert_allclose(result.explained_variance, reference.explained_variance_, rtol=1e-4)


def test_genotype_baselines_on_the_store_match_those_on_scaled_genotypes(tmp_path):
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(3), 20)
    freqs = rng.uniform(0.05, 0.95, size=(3, 400))
    gn = rng.binomial(2, freqs[groups]).astype(np.int8)
    gn[rng.random(gn.shape) < 0.03] = -1
    store = _store(tmp_path, gn)
    latent = rng.normal(size=(60, 2))
    methods = ["pca_kmeans", "pca_ward"]
    streamed = run_baselines(latent, store, 3, seed=0, pca_components=5, methods=methods)
    in_memory = run_baselines(latent, scale_genotypes(gn), 3, seed=0, pca_components=5, methods=methods)
    for a, b in zip(streamed, in_memory, strict=True):
        assert a.method == b.method and a.space == b.space == "genotypes"
        # the same partition (cluster numbers may differ)
        pairs = set(zip(a.labels.tolist(), b.labels.tolist(), strict=True))
        assert len(pairs) == len(set(a.labels)) == len(set(b.labels)) == 3, a.method


def test_blocked_pca_rejects_an_empty_matrix():
    with pytest.raises(ValueError):
        blocked_pca(np.zeros((3, 0), dtype=np.int8), 2)
