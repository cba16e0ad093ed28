"""Clustering scores (ACC against brute force), DBSCAN's eps from the k-distance knee, baselines, K sweep."""

from itertools import permutations

import numpy as np
import pandas as pd
import pytest

from popcen.clustering.baselines import dbscan_eps, k_distances, knee, run_baselines
from popcen.clustering.ksweep import choose_k, elbow, k_sweep, kmeans, kmeans_q, resolve_k
from popcen.clustering.metrics import cluster_accuracy, contingency, score_clustering


def _acc_brute_force(y_true, y_pred):
    """Best accuracy over every injective map of clusters to labels (clusters left over count as errors)."""
    labels, clusters = sorted(set(y_true)), sorted(set(y_pred))
    best = 0
    slots = labels + [None] * max(0, len(clusters) - len(labels))
    for perm in permutations(slots, len(clusters)):
        mapping = dict(zip(clusters, perm, strict=True))
        best = max(best, sum(mapping[c] == t for t, c in zip(y_true, y_pred, strict=True)))
    return best / len(y_true)


@pytest.mark.parametrize("seed", range(6))
def test_acc_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_labels, n_clusters = rng.integers(2, 5), rng.integers(2, 6)
    y_true = rng.integers(0, n_labels, size=25).tolist()
    y_pred = rng.integers(0, n_clusters, size=25).tolist()
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(_acc_brute_force(y_true, y_pred))


def test_acc_by_hand():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = [1, 1, 2, 2, 2, 0]  # best: 1->a (2), 2->b (2), 0->c (1) = 5/6
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(5 / 6)
    table, clusters, labels = contingency(y_true, y_pred)
    assert table.tolist() == [[0, 0, 1], [2, 0, 0], [1, 2, 0]] and labels.tolist() == ["a", "b", "c"]


def test_scores_of_a_relabelled_perfect_clustering_are_one():
    y = np.array([0, 0, 1, 1, 2, 2])
    scores = score_clustering(y, (y + 1) % 3)
    assert all(v == pytest.approx(1.0) for v in scores.values())
    one_cluster = score_clustering(y, np.zeros(6))
    assert one_cluster["ARI"] == pytest.approx(0) and one_cluster["completeness"] == pytest.approx(1)
    assert one_cluster["homogeneity"] == pytest.approx(0) and one_cluster["ACC"] == pytest.approx(1 / 3)


def test_knee_and_dbscan_eps():
    # flat then a sharp rise: the knee is the last flat point
    y = np.array([1, 1.1, 1.2, 1.3, 1.4, 5, 10])
    assert knee(y) == 4
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    # 1st nearest other point: 1, 1, 2, 4 -> sorted
    np.testing.assert_allclose(k_distances(x, 1), [1, 1, 2, 4])
    assert dbscan_eps(x, 1) in {1.0, 2.0}


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [8, 0], [0, 8]])
    y = np.repeat(np.arange(3), 30)
    return centres[y] + rng.normal(size=(90, 2)), y


def test_every_baseline_finds_well_separated_blobs():
    x, y = _blobs()
    genotypes = np.hstack([x, np.random.default_rng(1).normal(size=(90, 30)) * 0.1])
    results = run_baselines(x, genotypes, 3, seed=0, min_samples=5, pca_components=2)
    assert [r.method for r in results] == [
        "kmeans",
        "ward",
        "gmm",
        "dbscan",
        "optics",
        "pca_kmeans",
        "pca_ward",
    ]
    for r in results:
        assert len(r.labels) == 90 and r.seconds >= 0
        # density methods label the blobs' sparse edges as noise (-1), and OPTICS' xi extraction may split a
        # blob: they must still be clearly informative
        threshold = {"dbscan": 0.85, "optics": 0.5}.get(r.method, 0.95)
        assert score_clustering(y, r.labels)["ARI"] > threshold, r.method
    with pytest.raises(ValueError, match="unknown baseline"):
        run_baselines(x, genotypes, 3, methods=["spectral"])


def test_k_sweep_picks_the_elbow_of_three_blobs():
    x, y = _blobs()
    soft = {}
    table = k_sweep(x, range(2, 8), seed=0, labels=y, progress=False, soft=soft)
    assert list(table["k"]) == list(range(2, 8))
    # without CEC runs, each K's soft assignments: the Student t on its k-means centroids
    assert sorted(soft) == list(range(2, 8)) and soft[3].shape == (90, 3)
    np.testing.assert_allclose(soft[3].sum(axis=1), 1.0, atol=1e-6)
    km = kmeans(x, 3, seed=0)
    np.testing.assert_allclose(soft[3], kmeans_q(x, km.cluster_centers_))
    assert (soft[3].argmax(axis=1) == km.labels_).all()
    assert (np.diff(table["wcss"]) < 0).all()
    choice = choose_k(table)
    assert choice["k"] == 3 and choice["k_best_nmi_kmeans"] == 3
    assert elbow([2, 3, 4, 5], [100, 10, 8, 7]) == 3
    assert "elbow" in choice["method"]


def test_k_sweep_records_g_from_the_cec_runs():
    class Outcome:
        def __init__(self, k):
            self.train_loss, self.val_loss, self.labels = 0.5 * k, 1.0 * k, np.arange(90) % k
            self.q = np.eye(k)[self.labels]

    x, y = _blobs()
    soft = {}
    table = k_sweep(x, [2, 3], seed=0, labels=y, cec_fn=Outcome, progress=False, soft=soft)
    assert table["g"].tolist() == [0.5, 0.5]
    np.testing.assert_array_equal(soft[3], Outcome(3).q)  # the CEC runs' own q
    assert isinstance(table, pd.DataFrame) and "nmi_cec" in table


def test_level_sections_put_a_levels_override_over_the_section_and_the_shared_training():
    from popcen.clustering.deep import cec_sections, level_sections

    shared = {"optimizer": "adam", "lr": 2e-3, "max_epochs": 20, "seed": 1}
    clustering = {
        "init": "gmm",
        "kernel": "full",
        "sigma": 0.9,
        "training": {"lr": 3e-5, "max_epochs": 15},
        "levels": {"pop": {"init": "kmeans", "kernel": "isotropic", "training": {"lr": 1e-4}}},
    }
    settings, keys = cec_sections(shared, level_sections(clustering, "pop"), 100, 4, 2)
    # the level's lr over the section's over the shared one; the section's max_epochs over the shared one
    assert settings == {"optimizer": "adam", "lr": 1e-4, "max_epochs": 15, "seed": 1}
    assert (keys["init"], keys["kernel"], keys["sigma"]) == ("kmeans", "isotropic", 0.9)
    # a level without an override runs with the section's keys
    settings, keys = cec_sections(shared, level_sections(clustering, "super_pop"), 100, 4, 2)
    assert settings == {"optimizer": "adam", "lr": 3e-5, "max_epochs": 15, "seed": 1}
    assert (keys["init"], keys["kernel"]) == ("gmm", "full")
    # nothing is changed in place: the config dicts are shared by every rule
    assert clustering["levels"]["pop"]["training"] == {"lr": 1e-4} and clustering["init"] == "gmm"


def test_auto_preset_follows_the_samples_per_cluster_against_the_covariance_parameters():
    from popcen.clustering.deep import PRESETS, cec_sections, choose_preset

    # a full covariance of a 20-dimensional latent space has 20 * 21 / 2 = 210 parameters
    assert choose_preset(1126, 5, 20)[0] == "mixture"  # 225 per cluster (the 1000 Genomes subset's super_pop)
    assert choose_preset(1126, 12, 20)[0] == "dec"  # 94 (its pop level)
    assert choose_preset(160, 3, 20)[0] == "dec"  # 53 (the demo's super_pop)
    assert choose_preset(210, 1, 20)[0] == "mixture" and choose_preset(209, 1, 20)[0] == "dec"
    shared = {"lr": 2e-3, "seed": 1}
    # unset keys come from the preset, lr included; a key set in the config wins over it
    settings, keys = cec_sections(shared, {"sigma": 0.9, "alpha": None, "training": {}}, 160, 3, 20)
    assert (keys["preset"], keys["init"], keys["kernel"], keys["alpha"]) == (
        "dec",
        "kmeans",
        "isotropic",
        1.0,
    )
    assert settings["lr"] == PRESETS["dec"]["lr"] and "53 samples per cluster < 210" in keys["preset_reason"]
    settings, keys = cec_sections(
        shared, {"preset": "mixture", "kernel": "diagonal", "training": {}}, 160, 3, 20
    )
    assert (keys["init"], keys["kernel"], keys["alpha"], settings["lr"]) == ("gmm", "diagonal", 5.0, 3e-5)
    assert keys["preset_reason"] == "set in clustering.preset"


def test_score_methods_puts_clusterings_side_by_side():
    from popcen.clustering.baselines import BaselineResult
    from popcen.clustering.metrics import score_methods

    labels = np.array(["a", "a", "b", "b", "c", "c"])
    results = [
        BaselineResult("perfect", "latent", np.array([2, 2, 0, 0, 1, 1]), 1.5, "relabelled"),
        BaselineResult("one", "genotypes", np.zeros(6, dtype=int), np.nan),
    ]
    table = score_methods(labels, results, "pop")
    assert table.columns.tolist() == [
        "level", "k", "k_source", "n_labels", "method", "space", "ARI", "NMI", "ACC", "homogeneity",
        "completeness", "clusters_found", "seconds", "note",
    ]  # fmt: skip
    assert table["method"].tolist() == ["perfect", "one"] and (table["k"] == 3).all()
    assert (table["k_source"] == "labels").all() and (table["n_labels"] == 3).all()
    assert table.loc[0, "ARI"] == pytest.approx(1.0) and table["clusters_found"].tolist() == [3, 1]
    # a K other than the number of labels (the K sweep's, say) is the table's K; the scores stay against labels
    table = score_methods(labels, results[:1], "pop", k=2, k_source="sweep")
    assert table.loc[0, ["k", "k_source", "n_labels"]].tolist() == [2, "sweep", 3]
    assert table.loc[0, "ARI"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("setting", "k_choice", "expected"),
    [
        ("labels", None, (3, "labels")),
        ("labels", {"k": 7}, (3, "labels")),  # the sweep's choice is not used
        ("auto", {"k": 5, "reason": "elbow"}, (5, "sweep")),
        (4, None, (4, "config")),
        (np.int64(2), {"k": 5}, (2, "config")),
    ],
)
def test_resolve_k(setting, k_choice, expected):
    assert resolve_k(setting, n_labels=3, n_samples=10, k_choice=k_choice) == expected


@pytest.mark.parametrize(
    ("setting", "k_choice", "message"),
    [
        ("auto", None, "k_choice.json"),
        ("auto", {"reason": "no k"}, "k_choice.json"),
        (11, None, "exceeds the 10 samples"),
        (1, None, "at least 2 clusters"),
        ("foo", None, "expected 'labels', 'auto' or an integer"),
        (True, None, "expected 'labels', 'auto' or an integer"),
    ],
)
def test_resolve_k_rejects(setting, k_choice, message):
    with pytest.raises(ValueError, match=message):
        resolve_k(setting, n_labels=3, n_samples=10, k_choice=k_choice)


def _validated(clustering: dict) -> dict:
    from popcen.configcheck import validate_config
    from tests.conftest import ROOT

    config = {"clustering": clustering}
    validate_config(config, ROOT / "config/schemas/clustering.schema.yaml")
    return config["clustering"]


@pytest.mark.parametrize("value", ["labels", "auto", 2, 26])
def test_schema_accepts_k(value):
    assert _validated({"k": value})["k"] == value
    assert _validated({"levels": {"pop": {"k": value}}})["levels"]["pop"]["k"] == value


def test_schema_k_defaults_to_labels():
    assert _validated({})["k"] == "labels"


@pytest.mark.parametrize(
    ("clustering", "key"),
    [
        ({"k": 1}, "clustering.k"),
        ({"k": 0}, "clustering.k"),
        ({"k": "foo"}, "clustering.k"),
        ({"k": "Auto"}, "clustering.k"),
        ({"k": 2.5}, "clustering.k"),
        ({"k": True}, "clustering.k"),
        ({"levels": {"pop": {"k": 1}}}, "clustering.levels.pop.k"),
    ],
)
def test_schema_rejects_bad_k_in_one_line(clustering, key):
    from snakemake.exceptions import WorkflowError

    with pytest.raises(WorkflowError) as e:
        _validated(clustering)
    message = str(e.value)
    assert "\n" not in message.strip(), message
    assert f"config key {key}:" in message, message
    # it says what is allowed
    assert all(word in message for word in ("labels", "auto", ">= 2")), message


def test_cluster_names_follow_the_majority_label():
    from popcen.plots.clustering import cluster_names

    # K = 4 clusters of 3 labels: clusters 0 and 3 both mostly "a"; "c" leads no cluster; cluster 2 a tie
    labels = np.array(["a", "a", "b", "a", "b", "b", "a", "c", "a", "a", "c"])
    clusters = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    assert cluster_names(labels, clusters) == {0: "c0 a", 1: "c1 b", 2: "c2 a", 3: "c3 a"}
