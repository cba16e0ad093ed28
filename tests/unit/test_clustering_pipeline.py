"""The rule functions of popcen.pipeline.representation and .clustering on a tiny feature set, through
popcen.pipeline.call: each reads its inputs by the rule's names and writes the tables the next one reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from popcen.features import FeatureWriter
from popcen.io import read_json, read_table, write_table
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
        params={"min_samples": 3, "pca_components": 5, "seed": 1},
        wildcards={"level": "pop"},
    )
    metrics = read_table(baselines["metrics"])
    assert metrics["method"].tolist()[:3] == ["cec", "cae_kmeans", "kmeans"]
    assert metrics.set_index("method").loc["pca_kmeans", "NMI"] > 0.5
    assert read_table(baselines["assignments"]).columns[:4].tolist() == ["sample", "pop", "cec", "cae_kmeans"]

    sweep = {
        "table": tmp_path / "k_sweep.tsv",
        "choice": tmp_path / "k_choice.json",
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

    figures = {name: tmp_path / f"{name}.png" for name in ("losses", "tsne", "composition")}
    call(
        clustering.clustering_figures,
        input={
            **features,
            "latent": cae["latent"],
            "cae_losses": cae["losses"],
            "assignments": cec["assignments"],
            "cec_losses": cec["losses"],
        },
        output=figures,
        params={"seed": 1, "perplexity": 5.0},
        wildcards={"level": "pop"},
    )
    assert all(path.stat().st_size > 5000 for path in [sweep["plot"], *figures.values()])
