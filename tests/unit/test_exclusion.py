"""The out-of-reference score (popcen.classification.exclusion): the assignment-test likelihood of a
sample's genotypes under each reference population's allele frequencies."""

import numpy as np
import pytest

from popcen.classification import exclusion as ex


def balding_nichols(n_per_pop, n_pops, n_variants, fst, seed):
    """Genotypes (int8) and labels of populations drawn from one ancestral frequency spectrum."""
    rng = np.random.default_rng(seed)
    ancestral = rng.uniform(0.05, 0.95, n_variants)
    a = ancestral * (1 - fst) / fst
    b = (1 - ancestral) * (1 - fst) / fst
    genotypes, labels = [], []
    for k in range(n_pops):
        p = rng.beta(a, b)
        genotypes.append(rng.binomial(2, p, size=(n_per_pop, n_variants)))
        labels += [f"P{k}"] * n_per_pop
    return np.concatenate(genotypes).astype(np.int8), np.array(labels)


def test_genotype_terms_are_the_hardy_weinberg_moments():
    # 1 alt allele of 3 called: p = (1 + 1/2) / (3 + 1) = 0.375
    logp, expected, variance = ex.genotype_terms(np.array([1]), np.array([3]))
    p = 0.375
    probs = np.array([(1 - p) ** 2, 2 * p * (1 - p), p**2])
    np.testing.assert_allclose(np.exp(logp[:, 0]), probs)
    mean = (probs * np.log(probs)).sum()
    np.testing.assert_allclose(expected[0], mean)
    np.testing.assert_allclose(variance[0], (probs * (np.log(probs) - mean) ** 2).sum())


def test_population_counts_sum_alleles_and_skip_missing_calls():
    g = np.array([[0, 1, -1], [2, 1, 1], [1, -1, 0]], dtype=np.int8)
    labels, alt, called = ex.population_counts(ex.array_blocks(g, 2), ["B", "A", "B"])
    assert labels == ["A", "B"]
    np.testing.assert_array_equal(alt, [[2, 1, 1], [1, 1, 0]])
    np.testing.assert_array_equal(called, [[2, 2, 2], [4, 2, 2]])


def test_leave_one_out_equals_a_model_fitted_without_the_sample():
    g, labels = balding_nichols(8, 3, 300, 0.1, seed=1)
    g[np.random.default_rng(2).random(g.shape) < 0.05] = -1
    model, d = ex.fit_exclusion(lambda: ex.array_blocks(g, 64), labels)
    for i in (0, 9, 23):
        keep = np.arange(len(g)) != i
        others, _ = ex.fit_exclusion(lambda keep=keep: ex.array_blocks(g[keep], 300), labels[keep])
        expected = ex.score_samples(others, ex.array_blocks(g[i : i + 1], 300))[0]
        np.testing.assert_allclose(d[i], expected, rtol=1e-9)


def test_blocks_and_sub_blocks_do_not_change_the_scores(monkeypatch):
    g, labels = balding_nichols(6, 2, 200, 0.1, seed=3)
    model, d = ex.fit_exclusion(lambda: ex.array_blocks(g, 200), labels)
    monkeypatch.setattr(ex, "SUB_BLOCK_ELEMENTS", 50)  # 4 columns at a time for 12 samples
    model2, d2 = ex.fit_exclusion(lambda: ex.array_blocks(g, 37), labels)
    np.testing.assert_allclose(d, d2, rtol=1e-9)
    np.testing.assert_array_equal(model.alt, model2.alt)
    np.testing.assert_allclose(model.sd, model2.sd)


def test_a_population_absent_from_the_reference_is_flagged_and_members_are_not():
    g, labels = balding_nichols(60, 3, 2000, 0.03, seed=4)
    member = np.isin(labels, ["P0", "P1"])
    held = np.flatnonzero(member)[::6]  # 20 members of the reference populations, held out
    ref = np.setdiff1d(np.flatnonzero(member), held)
    model, d = ex.fit_exclusion(lambda: ex.array_blocks(g[ref], 512), labels[ref])
    reference_distance, _ = ex.distances(model, d)
    cutoff = np.quantile(reference_distance, 0.99)
    d_held, near_held = ex.distances(model, ex.score_samples(model, ex.array_blocks(g[held], 512)))
    absent = np.flatnonzero(labels == "P2")
    d_absent, _ = ex.distances(model, ex.score_samples(model, ex.array_blocks(g[absent], 512)))
    assert (near_held == labels[held]).all()
    assert (d_held > cutoff).mean() <= 0.05
    assert (d_absent > cutoff).mean() >= 0.95


def test_missing_calls_do_not_make_a_member_look_foreign():
    g, labels = balding_nichols(80, 2, 3000, 0.05, seed=5)
    held = np.arange(0, 160, 8)
    ref = np.setdiff1d(np.arange(160), held)
    model, _ = ex.fit_exclusion(lambda: ex.array_blocks(g[ref], 1000), labels[ref])
    sparse = g[held].copy()
    sparse[:, np.random.default_rng(6).random(sparse.shape[1]) < 0.5] = -1  # half the variants absent
    full, _ = ex.distances(model, ex.score_samples(model, ex.array_blocks(g[held], 1000)))
    half, _ = ex.distances(model, ex.score_samples(model, ex.array_blocks(sparse, 1000)))
    # D is compared with its expectation at the called variants only: its scale does not change
    assert abs(np.mean(half) - np.mean(full)) < 0.5


def test_the_model_survives_its_round_trip():
    g, labels = balding_nichols(5, 2, 50, 0.1, seed=7)
    model, _ = ex.fit_exclusion(lambda: ex.array_blocks(g, 50), labels)
    again = ex.ExclusionModel.load(model.summary(), model.arrays())
    np.testing.assert_array_equal(again.alt, model.alt)
    assert again.labels == model.labels and np.allclose(again.mean, model.mean)


def test_a_population_of_one_sample_gets_a_unit_sd():
    g, labels = balding_nichols(4, 2, 40, 0.1, seed=8)
    labels = labels.astype(object)
    labels[0] = "solo"
    model, _ = ex.fit_exclusion(lambda: ex.array_blocks(g, 40), labels)
    assert model.sd[model.labels.index("solo")] == 1.0


def test_the_distance_under_a_named_population_and_unknown_labels():
    g, labels = balding_nichols(30, 2, 1000, 0.05, seed=9)
    model, d = ex.fit_exclusion(lambda: ex.array_blocks(g, 1000), labels)
    z = (d - model.mean) / model.sd
    own, best = ex.distances(model, d, against=labels)
    np.testing.assert_allclose(own, -z[np.arange(len(z)), (labels == "P1").astype(int)])
    wrong, _ = ex.distances(model, d, against=np.where(labels == "P0", "P1", "P0"))
    # a sample scored under the other population falls far below that population's members
    assert (wrong > own + 3).all() and (best == labels).all()
    with pytest.raises(ValueError, match="not in the reference: P9"):
        ex.distances(model, d, against=["P9"] * len(d))
