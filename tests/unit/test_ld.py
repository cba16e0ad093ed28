"""LD pruning against a brute-force implementation written from the definition."""

import numpy as np
import pytest

from popcen.ld import ld_prune, random_subset


def r2_pairwise_complete(x, y):
    """Pearson r² of two alt-count vectors over the samples called at both (-1 = missing)."""
    ok = (x >= 0) & (y >= 0)
    a, b = x[ok].astype(float), y[ok].astype(float)
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return np.nan
    return np.corrcoef(a, b)[0, 1] ** 2


def brute_force_prune(gn, window, step, threshold):
    """Windows start every `step` variants; within a window, for each kept i, drop each later kept j whose
    r² with i exceeds the threshold (the plink --indep-pairwise rule as scikit-allel applies it)."""
    n = len(gn)
    keep = np.ones(n, dtype=bool)
    for start in range(0, n, step):
        stop = min(start + window, n)
        for i in range(start, stop):
            if not keep[i]:
                continue
            for j in range(i + 1, stop):
                if keep[j]:
                    r2 = r2_pairwise_complete(gn[i], gn[j])
                    if r2 > threshold:  # NaN compares False: undefined r never prunes
                        keep[j] = False
    return keep


def linked_matrix(n_variants=60, n_samples=80, seed=0, missing=0.05):
    rng = np.random.default_rng(seed)
    # Blocks of variants copied from a founder with a few changes: strong but imperfect LD.
    gn = np.empty((n_variants, n_samples), dtype=np.int8)
    for v in range(n_variants):
        if v % 6 == 0:
            founder = rng.binomial(2, rng.uniform(0.1, 0.6), n_samples)
        noise = rng.random(n_samples) < rng.uniform(0.0, 0.4)
        gn[v] = np.where(noise, rng.binomial(2, 0.3, n_samples), founder)
    gn[rng.random(gn.shape) < missing] = -1
    return gn


@pytest.mark.parametrize("window,step,threshold", [(10, 3, 0.2), (20, 5, 0.5), (7, 7, 0.1)])
def test_prune_matches_brute_force(window, step, threshold):
    gn = linked_matrix()
    got = ld_prune(gn, window=window, step=step, r2=threshold, iterations=1)
    want = brute_force_prune(gn, window, step, threshold)
    assert got.sum() < len(gn)  # the matrix is linked: something must be pruned
    np.testing.assert_array_equal(got, want)


def test_iterations_prune_the_survivors_again():
    gn = linked_matrix(seed=3)
    once = ld_prune(gn, 8, 8, 0.2, iterations=1)
    twice = ld_prune(gn, 8, 8, 0.2, iterations=2)
    idx = np.flatnonzero(once)
    want = np.zeros(len(gn), dtype=bool)
    want[idx[brute_force_prune(gn[idx], 8, 8, 0.2)]] = True
    np.testing.assert_array_equal(twice, want)
    assert twice.sum() <= once.sum()


def test_missing_calls_are_excluded_pairwise():
    # Two identical variants except that one sample's call is missing in the first: still r² = 1.
    x = np.array([0, 1, 2, 0, 1, 2, 0, 1], dtype=np.int8)
    y = x.copy()
    x[0] = -1
    gn = np.vstack([x, y])
    assert ld_prune(gn, 2, 1, 0.99).tolist() == [True, False]


def test_random_subset_is_reproducible_and_sized():
    a = random_subset(1000, 0.05, seed=7, key="chr1")
    b = random_subset(1000, 0.05, seed=7, key="chr1")
    c = random_subset(1000, 0.05, seed=7, key="chr2")
    assert a.sum() == 50 and np.array_equal(a, b) and not np.array_equal(a, c)
    assert random_subset(3, 0.01, seed=1).sum() == 1


@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_bit_packed_r2_matches_the_definition(missing):
    from popcen.ld import BitGenotypes, pair_r2

    gn = linked_matrix(n_variants=30, n_samples=131, seed=4, missing=missing)  # 131: not a multiple of 64
    gn[7] = 1  # constant: r undefined
    got = pair_r2(BitGenotypes(gn), np.arange(30), np.arange(30))
    want = np.array([[r2_pairwise_complete(gn[i], gn[j]) for j in range(30)] for i in range(30)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.isnan(got[7]).all() and np.isnan(want[7]).all()


def test_prune_without_missing_matches_brute_force_and_scikit_allel():
    import allel

    gn = linked_matrix(n_variants=400, n_samples=70, seed=9, missing=0.0)
    got = ld_prune(gn, window=25, step=6, r2=0.3)
    np.testing.assert_array_equal(got, brute_force_prune(gn, 25, 6, 0.3))
    np.testing.assert_array_equal(got, allel.locate_unlinked(gn, size=25, step=6, threshold=0.3))
    assert 0 < got.sum() < len(gn)
