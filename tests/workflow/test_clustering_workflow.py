"""The tiny demo through train_cae, train_cec, cluster_baselines, k_sweep and clustering_figures."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from popcen.clustering.metrics import score_clustering
from popcen.representation import load_cae

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def clustered(full_demo):
    """The shared tiny run of the whole pipeline (tests/conftest.py TINY_PIPELINE: 4 CAE epochs, 3 CEC
    epochs, K up to 4): every clustering rule has run; here we check that their outputs agree."""
    return full_demo


def read(path):
    return pd.read_csv(path, sep="\t", dtype={"sample": str})


def test_cae_outputs(clustered):
    d = clustered / "results/demo/representation"
    samples = read(clustered / "results/demo/features/samples.tsv")
    latent = read(d / "latent.tsv")
    assert latent["sample"].tolist() == samples["sample"].tolist()
    cae, meta = load_cae(d / "cae.pt", d / "cae.json")
    assert latent.shape[1] - 1 == cae.config.latent_dim
    assert meta["cae"]["n_pixels"] == len(meta["variant_index"]) and meta["cae"]["side"] ** 2 >= len(
        meta["variant_index"]
    )
    losses = read(d / "cae_losses.tsv")
    assert len(losses) == meta["epochs_run"] and losses["val_loss"].notna().all()
    # the checkpoint of a finished run is gone, so a changed config never resumes it
    assert not (clustered / "results/demo/checkpoints/cae/last.pt").exists()


@pytest.mark.parametrize(("level", "k"), [("pop", 4), ("super_pop", 3)])
def test_cec_and_baselines_score_the_same_samples(clustered, level, k):
    d = clustered / f"results/demo/clustering/{level}"
    samples = read(clustered / "results/demo/features/samples.tsv")
    cec = read(d / "cec_assignments.tsv")
    assert cec["sample"].tolist() == samples["sample"].tolist()
    q = cec[[f"q{j}" for j in range(k)]].to_numpy()
    np.testing.assert_allclose(q.sum(axis=1), 1, atol=1e-3)
    assert (q.argmax(axis=1) == cec["cluster"].to_numpy()).all()
    meta = json.loads((d / "cec.json").read_text())
    assert meta["k"] == k and meta["level"] == level
    # pop runs with the test config's clustering.levels.pop override, super_pop with the section's keys
    init, kernel, epochs = ("kmeans", "isotropic", 2) if level == "pop" else ("gmm", "full", 3)
    assert (meta["clustering"]["init"], meta["clustering"]["kernel"]) == (init, kernel)
    assert meta["training"]["max_epochs"] == epochs and meta["epochs_run"] <= epochs
    metrics = read(d / "metrics.tsv")
    assert metrics["method"].tolist() == [
        "cec",
        f"cae_{init}",  # CEC's starting clusters (clustering.init, or the level's override)
        "kmeans",
        "ward",
        "gmm",
        "dbscan",
        "optics",
        "pca_kmeans",
        "pca_ward",
    ]
    assert {"ARI", "NMI", "ACC", "homogeneity", "completeness", "seconds"} <= set(metrics.columns)
    # the table's CEC row is the score of the written assignments against the written labels
    expected = score_clustering(samples[level], cec["cluster"])
    row = metrics.set_index("method").loc["cec"]
    # CEC must not collapse into one cluster (it did when the CAE's batch-norm statistics were stale)
    assert row["clusters_found"] >= 2
    assert row["ARI"] == pytest.approx(expected["ARI"], abs=1e-4) and row["ACC"] == pytest.approx(
        expected["ACC"], abs=1e-4
    )
    # the simulated populations are well separated: PCA + k-means on the raw genotypes finds them
    assert metrics.set_index("method").loc["pca_kmeans", "NMI"] > 0.5
    state = torch.load(d / "cec.pt", weights_only=True)
    assert state["centroids"].shape[0] == k
    assert ("precision_lower" in state) == (kernel == "full")  # the kernel CEC trained with
    for name in ("loss_curves", "tsne", "composition"):
        assert (d / f"{name}.png").stat().st_size > 5000


def test_k_sweep(clustered):
    d = clustered / "results/demo/clustering"
    table = read(d / "k_sweep.tsv")
    choice = json.loads((d / "k_choice.json").read_text())
    assert table["k"].iloc[0] == 2 and (np.diff(table["wcss"]) < 0).all()
    assert {"nmi_kmeans", "g", "nmi_cec"} <= set(table.columns)
    assert choice["k"] in table["k"].tolist() and "elbow" in choice["method"]
    assert (d / "k_sweep.png").stat().st_size > 5000
