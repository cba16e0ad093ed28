"""The rule functions of popcen.pipeline.representation and .clustering on a tiny feature set, through
popcen.pipeline.call: each reads its inputs by the rule's names and writes the tables the next one reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from popcen.errors import PopcenInputError
from popcen.features import FeatureWriter
from popcen.io import read_json, read_table, write_json, write_table
from popcen.pipeline import call, clustering, representation

TRAINING = {
    "optimizer": "adam",
    "lr": 2e-3,
    "weight_decay": 0.0,
    "lr_schedule": "constant",
    "batch_size": 8,
    "max_epochs": 2,
    "patience": 2,
    "val_fraction": 0.2,
    "seed": 1,
    "amp": False,
}
REPRESENTATION = {
    "max_variants": 64,
    "latent_dim": 4,
    "base_channels": 4,
    "max_channels": 8,
    "max_depth": 1,
    "dropout": 0.0,
    "pca_init": False,
    "training": {},
}
CEC_KEYS = {
    "sigma": 0.9,
    "alpha": 1.0,
    "update_interval": 2,
    "tol": 0.001,
    "init": "kmeans",
    "kernel": "isotropic",
    "freeze_batchnorm": True,
    "kmeans_n_init": 2,
    "training": {"max_epochs": 1},
}


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """3 populations x 8 samples, 80 variants whose allele frequencies differ between populations."""
    d = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(0)
    freqs = rng.uniform(0.05, 0.95, size=(3, 80))
    gn = np.concatenate([rng.binomial(2, f, size=(8, 80)) for f in freqs]).astype(np.int8)
    gn[rng.random(gn.shape) < 0.02] = -1
    FeatureWriter(d / "genotypes.zarr", len(gn)).append(gn)
    pops = np.repeat(["A", "B", "C"], 8)
    samples = pd.DataFrame({"sample": [f"s{i}" for i in range(len(gn))], "pop": pops, "super_pop": "X"})
    variants = pd.DataFrame(
        {"id": [f"v{j}" for j in range(80)], "chrom": "1", "pos": np.arange(80) + 1, "ref": "A", "alt": "G"}
    )
    write_table(samples, d / "samples.tsv")
    write_table(variants, d / "variants.tsv")
    return {"genotypes": d / "genotypes.zarr", "variants": d / "variants.tsv", "samples": d / "samples.tsv"}


@pytest.fixture(scope="module")
def cae(features, tmp_path_factory):
    d = tmp_path_factory.mktemp("representation")
    out = {
        name: d / file
        for name, file in [
            ("weights", "cae.pt"),
            ("config", "cae.json"),
            ("latent", "latent.tsv"),
            ("losses", "cae_losses.tsv"),
        ]
    }
    call(
        representation.train_cae,
        input=features,
        output=out,
        params={
            "training": TRAINING,
            "representation": REPRESENTATION,
            "label_columns": ["pop", "super_pop"],
            "device": "cpu",
            "checkpoint_dir": d / "checkpoints",
        },
    )
    return out


def test_train_cae_writes_the_latent_of_every_sample(features, cae):
    latent = read_table(cae["latent"])
    assert latent.columns.tolist() == ["sample", "z1", "z2", "z3", "z4"]
    assert latent["sample"].tolist() == read_table(features["samples"])["sample"].tolist()
    meta = read_json(cae["config"])
    # the 64 highest-variance variants of 80 (representation.max_variants), in genome order
    assert len(meta["variant_index"]) == 64 and meta["variant_index"] == sorted(meta["variant_index"])
    assert meta["training"]["max_epochs"] == 2


def test_clustering_rules_chain_on_the_cae(features, cae, tmp_path):
    cec = {
        name: tmp_path / file
        for name, file in [
            ("weights", "cec.pt"),
            ("config", "cec.json"),
            ("assignments", "cec_assignments.tsv"),
            ("losses", "cec_losses.tsv"),
        ]
    }
    cae_files = {"cae_weights": cae["weights"], "cae_json": cae["config"]}
    call(
        clustering.train_cec,
        input={**features, **cae_files},
        output=cec,
        params={
            "training": TRAINING,
            "clustering": {**CEC_KEYS, "levels": {"pop": {"training": {"lr": 1e-3}}}},
            "device": "cpu",
            "checkpoint_dir": tmp_path / "checkpoints",
        },
        wildcards={"level": "pop"},
    )
    meta = read_json(cec["config"])
    assert (meta["k"], meta["training"]["lr"], meta["training"]["max_epochs"]) == (3, 1e-3, 1)
    assignments = read_table(cec["assignments"])
    assert assignments.columns.tolist() == ["sample", "pop", "cluster", "init_cluster", "q0", "q1", "q2"]

    baselines = {"metrics": tmp_path / "metrics.tsv", "assignments": tmp_path / "baseline_assignments.tsv"}
    call(
        clustering.cluster_baselines,
        input={
            **features,
            "latent": cae["latent"],
            "cae_json": cae["config"],
            "assignments": cec["assignments"],
            "cec_json": cec["config"],
        },
        output=baselines,
        params={"k": "labels", "min_samples": 3, "pca_components": 5, "seed": 1},
        wildcards={"level": "pop"},
    )
    metrics = read_table(baselines["metrics"])
    assert (metrics["k"] == 3).all() and (metrics["k_source"] == "labels").all()
    assert metrics["method"].tolist()[:3] == ["cec", "cae_kmeans", "kmeans"]
    assert metrics.set_index("method").loc["pca_kmeans", "NMI"] > 0.5
    assert read_table(baselines["assignments"]).columns[:4].tolist() == ["sample", "pop", "cec", "cae_kmeans"]

    sweep = {
        "table": tmp_path / "k_sweep.tsv",
        "choice": tmp_path / "k_choice.json",
        "q": tmp_path / "k_sweep_q.tsv",
        "plot": tmp_path / "k.png",
    }
    call(
        clustering.k_sweep,
        input={**features, **cae_files, "latent": cae["latent"]},
        output=sweep,
        params={
            "label_columns": ["pop", "super_pop"],
            "training": TRAINING,
            "clustering": {**CEC_KEYS, "k_max": 4, "k_sweep_epochs": 1},
            "device": "cpu",
        },
    )
    assert read_table(sweep["table"])["k"].tolist() == [2, 3, 4]
    choice = read_json(sweep["choice"])
    assert (choice["label_column"], choice["k_labels"]) == ("pop", 3)
    assert read_table(sweep["q"]).shape == (24, 3 + choice["k"])  # sample, pop, cluster, q0 .. q<K-1>

    figures = {name: tmp_path / f"{name}.png" for name in ("losses", "tsne", "composition")}
    call(
        clustering.clustering_figures,
        input={
            **features,
            "latent": cae["latent"],
            "cae_losses": cae["losses"],
            "assignments": cec["assignments"],
            "cec_json": cec["config"],
            "cec_losses": cec["losses"],
        },
        output=figures,
        params={"seed": 1, "perplexity": 5.0, "k": "labels"},
        wildcards={"level": "pop"},
    )
    assert all(path.stat().st_size > 5000 for path in [sweep["plot"], *figures.values()])


def _cec_files(d):
    return {
        name: d / file
        for name, file in [
            ("weights", "cec.pt"),
            ("config", "cec.json"),
            ("assignments", "cec_assignments.tsv"),
            ("losses", "cec_losses.tsv"),
        ]
    }


def _run_cec_and_baselines(features, cae, d, level, setting, k_choice=None):
    """train_cec then cluster_baselines at ``clustering.k = setting``, as the rules call them: the K sweep's
    choice is an input (``k_choice``) only with ``auto``."""
    extra = {}
    if k_choice is not None:
        extra["k_choice"] = d / "k_choice.json"
        write_json(k_choice, extra["k_choice"])
    cec = _cec_files(d)
    call(
        clustering.train_cec,
        input={**features, "cae_weights": cae["weights"], "cae_json": cae["config"], **extra},
        output=cec,
        params={
            "training": TRAINING,
            "clustering": {**CEC_KEYS, "k": setting},
            "device": "cpu",
            "checkpoint_dir": d / "checkpoints",
        },
        wildcards={"level": level},
    )
    baselines = {"metrics": d / "metrics.tsv", "assignments": d / "baseline_assignments.tsv"}
    call(
        clustering.cluster_baselines,
        input={
            **features,
            "latent": cae["latent"],
            "cae_json": cae["config"],
            "assignments": cec["assignments"],
            "cec_json": cec["config"],
            **extra,
        },
        output=baselines,
        params={"k": setting, "min_samples": 3, "pca_components": 5, "seed": 1},
        wildcards={"level": level},
    )
    return cec, baselines


# 3 populations (pop A, B, C) and a single super_pop X: K differs from the number of labels in each case.
# A choice as the K sweep writes it (popcen.clustering.ksweep.choose_k), with a K that is not the 3 labels.
SWEEP_CHOICE = {"k": 2, "method": "elbow", "reason": "test", "k_best_nmi_kmeans": 3}


@pytest.mark.parametrize(
    ("level", "setting", "k_choice", "k", "source"),
    [
        ("pop", "auto", SWEEP_CHOICE, 2, "sweep"),
        ("pop", 5, None, 5, "config"),
        # a level with one label: only a K from elsewhere can cluster it (with labels it is an error)
        ("super_pop", "auto", {**SWEEP_CHOICE, "k": 4}, 4, "sweep"),
    ],
)
def test_cec_and_baselines_run_at_the_k_of_clustering_k(
    features, cae, tmp_path, level, setting, k_choice, k, source
):
    cec, baselines = _run_cec_and_baselines(features, cae, tmp_path, level, setting, k_choice)
    labels = read_table(features["samples"], dtype={level: str})[level].to_numpy()

    meta = read_json(cec["config"])
    assert (meta["k"], meta["k_source"], meta["n_labels"]) == (k, source, len(set(labels)))
    assert torch.load(cec["weights"], weights_only=True)["centroids"].shape[0] == k
    assignments = read_table(cec["assignments"], dtype={level: str})
    assert [c for c in assignments.columns if c.startswith("q")] == [f"q{j}" for j in range(k)]
    assert set(assignments["cluster"]) <= set(range(k)) and set(assignments["init_cluster"]) <= set(range(k))
    # the starting clustering of the latent space has exactly K clusters
    assert assignments["init_cluster"].nunique() == k

    metrics = read_table(baselines["metrics"]).set_index("method")
    assert (metrics["k"] == k).all() and (metrics["k_source"] == source).all()
    assert (metrics["n_labels"] == len(set(labels))).all()
    found = read_table(baselines["assignments"], dtype={level: str})
    # the baselines that take a K found that many clusters
    for method in ("kmeans", "ward", "gmm", "pca_kmeans", "pca_ward"):
        assert found[method].nunique() == k, method
        assert metrics.loc[method, "clusters_found"] == k
    # scores stay against the level's labels
    for method in ("cec", "kmeans", "pca_kmeans"):
        assert metrics.loc[method, "ARI"] == pytest.approx(
            adjusted_rand_score(labels, found[method]), abs=1e-4
        )
        assert metrics.loc[method, "NMI"] == pytest.approx(
            normalized_mutual_info_score(labels, found[method]), abs=1e-4
        )


def test_figures_name_clusters_by_majority_at_another_k(features, cae, tmp_path):
    cec, _ = _run_cec_and_baselines(features, cae, tmp_path, "pop", 5)
    figures = {name: tmp_path / f"{name}.png" for name in ("losses", "tsne", "composition")}
    call(
        clustering.clustering_figures,
        input={
            **features,
            "latent": cae["latent"],
            "cae_losses": cae["losses"],
            "assignments": cec["assignments"],
            "cec_json": cec["config"],
            "cec_losses": cec["losses"],
        },
        output=figures,
        params={"seed": 1, "perplexity": 5.0, "k": 5},
        wildcards={"level": "pop"},
    )
    assert all(path.stat().st_size > 5000 for path in figures.values())


def test_auto_without_the_sweep_choice_or_a_stale_cec_is_an_error(features, cae, tmp_path):
    with pytest.raises(PopcenInputError, match="k_choice"):
        _run_cec_and_baselines(features, cae, tmp_path, "pop", "auto")
    # CEC ran at K = 3 labels; the baselines are asked for the sweep's K = 2: CEC's output is stale
    cec, _ = _run_cec_and_baselines(features, cae, tmp_path, "pop", "labels")
    write_json(SWEEP_CHOICE, tmp_path / "k_choice.json")
    with pytest.raises(PopcenInputError, match="re-run train_cec"):
        call(
            clustering.cluster_baselines,
            input={
                **features,
                "latent": cae["latent"],
                "cae_json": cae["config"],
                "assignments": cec["assignments"],
                "cec_json": cec["config"],
                "k_choice": tmp_path / "k_choice.json",
            },
            output={"metrics": tmp_path / "m.tsv", "assignments": tmp_path / "a.tsv"},
            params={"k": "auto", "min_samples": 3, "pca_components": 5, "seed": 1},
            wildcards={"level": "pop"},
        )
