"""The tiny demo's ancestry proportions (rules admixture_proportions, k_sweep_proportions, predict_admixture)
and its new cohort over the reference (rule predict_over_reference, from predict's latent.tsv and
aligned.zarr)."""

import json

import numpy as np
import pandas as pd
import pytest
import zarr

from popcen.images import to_images
from popcen.representation import encode, load_cae

pytestmark = pytest.mark.workflow

LEVELS = ("pop", "super_pop")


def read(path):
    return pd.read_csv(path, sep="\t", dtype={"sample": str}, keep_default_na=False)


@pytest.mark.parametrize("level", LEVELS)
def test_training_cohort_q_is_cec_soft_assignments_named_by_majority(full_demo, level):
    d = full_demo / "results/demo"
    q = read(d / f"admixture/{level}/Q.tsv")
    cec = read(d / f"clustering/{level}/cec_assignments.tsv")
    k = json.loads((d / f"clustering/{level}/cec.json").read_text())["k"]
    assert q["sample"].tolist() == cec["sample"].tolist()
    values = q.drop(columns="sample").to_numpy(dtype=float)
    assert values.shape == (len(cec), k)
    np.testing.assert_allclose(values.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(values, cec[[f"q{j}" for j in range(k)]].to_numpy(dtype=float), atol=5e-5)
    # each cluster's name: the label most of the samples whose largest q it is carry (+ _2 ... if repeated)
    names = q.columns[1:].tolist()
    assert len(set(names)) == k
    labels = set(cec[level])
    hard = values.argmax(1)
    for j, name in enumerate(names):
        base = name if name in labels else name.rsplit("_", 1)[0]
        assert base in labels, names
        members = cec.loc[hard == j, level]
        if len(members):
            top = members.value_counts()
            assert top[base] == top.max(), (name, top.to_dict())
    assert (d / f"admixture/{level}/structure.png").stat().st_size > 5000


def test_q_at_the_k_sweeps_k(full_demo):
    d = full_demo / "results/demo"
    choice = json.loads((d / "clustering/k_choice.json").read_text())
    q = read(d / "admixture/k_sweep/Q.tsv")
    samples = read(d / "features/samples.tsv")
    assert q["sample"].tolist() == samples["sample"].tolist()
    values = q.drop(columns="sample").to_numpy(dtype=float)
    assert values.shape[1] == choice["k"] and choice["q_source"] == "cec"  # TINY_PIPELINE: 1 sweep epoch
    assert choice["k_is_labels"] == (choice["k"] == samples["pop"].nunique() == choice["k_labels"])
    np.testing.assert_allclose(values.sum(1), 1, atol=1e-5)
    bases = {name if name in set(samples["pop"]) else name.rsplit("_", 1)[0] for name in q.columns[1:]}
    assert bases <= set(samples["pop"]), q.columns.tolist()
    assert (d / "admixture/k_sweep/structure.png").stat().st_size > 5000


def test_new_cohort_latent_aligned_counts_and_figure(full_demo):
    d = full_demo / "results/demo_new/predict"
    pred = read(d / "predictions.tsv")
    latent = read(d / "latent.tsv")
    assert latent["sample"].tolist() == pred["sample"].tolist()
    ref_latent = read(full_demo / "results/demo/representation/latent.tsv")
    assert latent.columns.tolist() == ref_latent.columns.tolist()
    # the aligned counts: one row per sample, one column per model variant; a sample's missing share is
    # its missing_fraction in predictions.tsv
    aligned = zarr.open_group(str(d / "aligned.zarr"), mode="r")["alt_count"]
    cae = json.loads((full_demo / "results/demo/representation/cae.json").read_text())
    assert aligned.shape == (len(pred), len(cae["variant_index"]))
    assert list(aligned.attrs["samples"]) == pred["sample"].tolist()
    counts = aligned[:]
    assert set(np.unique(counts)) <= {-1, 0, 1, 2}
    np.testing.assert_allclose((counts < 0).mean(1), pred["missing_fraction"].astype(float), atol=1e-5)
    # the latent codes are the model cohort's CAE on those counts (a missing value: the model cohort's mean)
    cae_model, _ = load_cae(
        full_demo / "results/demo/representation/cae.pt", full_demo / "results/demo/representation/cae.json"
    )
    variants = pd.read_csv(full_demo / "results/demo/features/variants.tsv", sep="\t")
    af = variants["af"].fillna(0).to_numpy(dtype=float)
    filled = np.where(counts < 0, 2 * af[cae["variant_index"]], counts) / 2
    expected = encode(cae_model, to_images(filled.astype(np.float32)), device="cpu")
    np.testing.assert_allclose(
        latent.drop(columns="sample").to_numpy(dtype=float), expected, rtol=1e-4, atol=1e-4
    )
    assert (d / "over_reference.png").stat().st_size > 10000


@pytest.mark.parametrize("level", LEVELS)
def test_new_cohort_q_through_the_model_cec(full_demo, level):
    d = full_demo / "results/demo_new/predict"
    pred = read(d / "predictions.tsv")
    q = read(d / f"admixture/{level}/Q.tsv")
    train_q = read(full_demo / f"results/demo/admixture/{level}/Q.tsv")
    assert q.columns.tolist() == train_q.columns.tolist()  # the model cohort's clusters, by name
    assert q["sample"].tolist() == pred["sample"].tolist()
    values = q.drop(columns="sample").to_numpy(dtype=float)
    np.testing.assert_allclose(values.sum(1), 1, atol=1e-5)
    assert (values >= 0).all()
    # demo_new holds other samples of the demo's populations: with the pop level's isotropic kernel
    # (TINY_PIPELINE) the fixed CEC gives each population about the mean proportions it gives the training
    # samples of that population (the full kernel of super_pop, fitted to 12 samples per population at test
    # size, is too sharp for this to hold there)
    if level == "pop":
        panel = pd.read_csv(full_demo / "resources/demo/demo_new.panel", sep=r"\s+", dtype=str)
        train_pop = read(full_demo / "results/demo/features/samples.tsv")["pop"].to_numpy()
        new_pop = panel.set_index("sample").loc[q["sample"], "pop"].to_numpy()
        train_mean = train_q.drop(columns="sample").groupby(train_pop).mean()
        new_mean = q.drop(columns="sample").groupby(new_pop).mean()
        shared = sorted(set(train_mean.index) & set(new_mean.index))
        assert shared
        gap = (train_mean.loc[shared] - new_mean.loc[shared]).abs().to_numpy().max()
        assert gap < 0.25, (train_mean.round(2), new_mean.round(2))
    assert (d / f"admixture/{level}/structure.png").stat().st_size > 5000
