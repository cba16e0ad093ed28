"""classification.cv_representation: an inductive CV trains a CAE per fold on the fold's training samples only
(variant choice, imputation, PCA start, weights), and the transductive CV is what it was."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import popcen.representation as rep
from popcen.classification.cv import stratified_folds
from popcen.classification.tables import encode_labels
from popcen.classification.train import (
    TrainSettings,
    evaluate_cv,
    frozen_features,
    predict_proba,
    train_fold_cae,
    train_with_search,
)
from popcen.models.cae import CAE, architecture

N_PER_POP, N_VARIANTS, MAX_VARIANTS = 12, 90, 36  # images of 6 x 6
TRAINING = {"optimizer": "adam", "lr": 0.01, "batch_size": 8, "max_epochs": 2, "patience": 0,
            "val_fraction": 0.2, "seed": 3, "amp": False}  # fmt: skip
REPRESENTATION = {"max_variants": MAX_VARIANTS, "latent_dim": 3, "base_channels": 4, "max_channels": 8,
                  "max_depth": 1, "dropout": 0.0, "pca_init": True}  # fmt: skip
HEAD = TrainSettings(hidden=0, max_epochs=3, patience=0, batch_size=8, device="cpu", seed=2)


def cohort(seed: int = 0):
    """36 samples of 3 populations x 90 variants, population-specific allele frequencies, 3 % missing calls;
    every sample's genotype vector is its own."""
    rng = np.random.default_rng(seed)
    pops = np.repeat(["CEU", "CHB", "YRI"], N_PER_POP)
    af = rng.uniform(0.05, 0.95, size=(3, N_VARIANTS))
    gn = rng.binomial(2, af[np.searchsorted(["CEU", "CHB", "YRI"], pops)]).astype(np.int8)
    gn[rng.random(gn.shape) < 0.03] = -1
    assert len({row.tobytes() for row in gn}) == len(gn)
    samples = pd.DataFrame({"sample": [f"s{i}" for i in range(len(pops))], "pop": pops})
    return gn, samples


def expected_fold_images(gn: np.ndarray, train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The fold's variants and every sample's images, derived here with numpy from the training rows only:
    the k variants of highest variance over the training samples' calls (ties: earlier first), genome order;
    a missing call = the variant's mean over the training samples' calls; count / 2; zero-padded square."""
    x = gn[train].astype(float)
    x[x < 0] = np.nan
    var = np.nanvar(x, axis=0)
    order = sorted(range(gn.shape[1]), key=lambda j: (-var[j], j))
    kept = np.sort(order[:k])
    means = np.nanmean(x, axis=0)[kept]
    cols = gn[:, kept].astype(float)
    cols = np.where(cols < 0, means[None, :], cols) / 2
    side = int(np.ceil(np.sqrt(k)))
    flat = np.zeros((len(gn), side * side), dtype=np.float32)
    flat[:, :k] = cols
    return kept, flat.reshape(len(gn), 1, side, side)


def test_inductive_cv_trains_each_fold_cae_on_its_training_samples_only(monkeypatch):
    gn, samples = cohort()
    pops = samples["pop"].to_numpy()
    folds = stratified_folds(pops, 3, seed=1)
    seen = []  # what the CAE trainer was given, per call

    real = rep.train_cae

    def recording(images, n_pixels, settings, representation, **kw):
        seen.append({"images": np.array(images), "n_pixels": n_pixels, "settings": settings,
                     "stratify": kw.get("stratify")})  # fmt: skip
        return real(images, n_pixels, settings, representation, **kw)

    monkeypatch.setattr(rep, "train_cae", recording)
    fitted = {}

    def fold_representation(train, fold):
        fitted[fold] = train_fold_cae(gn, train, TRAINING, REPRESENTATION, stratify=pops, device="cpu")
        return fitted[fold]

    predictions, tables, trials = evaluate_cv(
        None, samples, "pop", folds, HEAD, None, None, fold_representation=fold_representation
    )

    assert len(seen) == 3 and sorted(fitted) == [0, 1, 2]
    all_kept, _ = expected_fold_images(gn, np.arange(len(gn)), MAX_VARIANTS)
    differs = 0
    for fold, call in zip(sorted(fitted), seen, strict=True):
        train = np.flatnonzero(folds != fold)
        test = np.flatnonzero(folds == fold)
        kept, images = expected_fold_images(gn, train, MAX_VARIANTS)
        # the variant choice is the training samples' own (not the cohort's, in at least one fold)
        assert fitted[fold].variant_index.tolist() == kept.tolist()
        differs += kept.tolist() != all_kept.tolist()
        # the CAE trainer got exactly the training samples' images, nothing of a test sample
        assert call["images"].shape[0] == len(train) == len(fitted[fold].train_index)
        np.testing.assert_allclose(call["images"], images[train], atol=1e-7)
        test_rows = {row.tobytes() for row in images[test].astype(np.float32)}
        assert not test_rows & {row.tobytes() for row in call["images"].astype(np.float32)}
        assert call["n_pixels"] == MAX_VARIANTS
        # its validation split is stratified by the training samples' labels, with train_cae's settings
        assert call["stratify"].tolist() == pops[train].tolist()
        assert call["settings"] == rep.training_settings(TRAINING, REPRESENTATION.get("training"))
        # the classifier encodes every sample in the fold's layout, test samples imputed with training means
        np.testing.assert_allclose(fitted[fold].data, images, atol=1e-7)
        assert fitted[fold].summary()["n_train"] == len(train)
    assert differs >= 1
    # out-of-fold probabilities of every sample, trials per fold
    p = predictions[[c for c in predictions.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    assert predictions["fold"].tolist() == folds.tolist() and sorted(trials["fold"].unique()) == [0, 1, 2]
    assert tables["confusion"].to_numpy().sum() == len(gn)


def test_the_fold_cae_is_train_cae_on_the_training_samples():
    """The fold's CAE is the shared CAE training on the training samples' images: the same weights as
    popcen.representation.train_cae called on them directly (same seed)."""
    gn, samples = cohort(1)
    pops = samples["pop"].to_numpy()
    train = np.flatnonzero(stratified_folds(pops, 3, seed=2) != 0)
    fitted = train_fold_cae(gn, train, TRAINING, REPRESENTATION, stratify=pops, device="cpu")
    _, images = expected_fold_images(gn, train, MAX_VARIANTS)
    direct, _ = rep.train_cae(
        images[train], MAX_VARIANTS, dict(TRAINING), REPRESENTATION, device="cpu", stratify=pops[train],
        progress=False,
    )  # fmt: skip
    assert fitted.cae_config == direct.config.to_dict()
    for name, value in direct.state_dict().items():
        torch.testing.assert_close(fitted.cae_state[name], value, msg=name)


def test_transductive_cv_is_unchanged(monkeypatch):
    """Without fold_representation the CV is the one it was: the cohort's CAE, its frozen features computed
    once, train_with_search per fold on the training samples, predictions of the test samples; no CAE is
    trained."""
    gn, samples = cohort(2)
    folds = stratified_folds(samples["pop"].to_numpy(), 3, seed=1)
    _, images = expected_fold_images(gn, np.arange(len(gn)), MAX_VARIANTS)
    torch.manual_seed(0)
    cae = CAE(architecture(images.shape[-1], MAX_VARIANTS, latent_dim=3, base_channels=4))
    config, state = cae.config.to_dict(), cae.state_dict()

    def no_training(*args, **kwargs):
        raise AssertionError("a transductive CV trains no CAE")

    monkeypatch.setattr(rep, "train_cae", no_training)
    predictions, tables, trials = evaluate_cv(images, samples, "pop", folds, HEAD, config, state)

    y, labels = encode_labels(samples, "pop")
    features = frozen_features(images, config, state, HEAD, len(labels))
    want = np.zeros((len(y), len(labels)))
    for fold in range(3):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        model, chosen, _ = train_with_search(
            images, y, len(labels), config, state, HEAD, train, desc=f"fold {fold}", features=features
        )
        want[test] = predict_proba(model, images, "cpu", rows=test)
    got = predictions[[f"p_{label}" for label in labels]].to_numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert len(trials) == 3


@pytest.mark.parametrize("mode", ["transductive", "inductive"])
def test_evaluate_classifier_rule_reports_its_mode(tmp_path, mode):
    """pipeline.classification.evaluate_classifier on files: the mode in metrics.tsv and representation.json;
    an inductive run reads no cohort CAE and records each fold's."""
    import zarr

    from popcen.classification.tables import make_folds
    from popcen.io import read_table, write_table
    from popcen.pipeline import call
    from popcen.pipeline.classification import evaluate_classifier
    from popcen.representation import save_cae

    gn, samples = cohort(3)
    samples["super_pop"] = np.where(samples["pop"] == "YRI", "AFR", "EAS_EUR")
    f = tmp_path / "features"
    f.mkdir()
    zarr.open_group(str(f / "genotypes.zarr"), mode="w").create_dataset("alt_count", data=gn, chunks=(8, 32))
    samples.to_csv(f / "samples.tsv", sep="\t", index=False)
    pd.DataFrame({"id": [f"v{i}" for i in range(N_VARIANTS)]}).to_csv(
        f / "variants.tsv", sep="\t", index=False
    )
    folds_path = tmp_path / "folds.tsv"
    write_table(make_folds(samples, "pop", 3, 1, f / "samples.tsv"), folds_path)
    inputs = {"genotypes": f / "genotypes.zarr", "variants": f / "variants.tsv", "samples": f / "samples.tsv",
              "folds": folds_path, "fine_predictions": []}  # fmt: skip
    params = {"label_columns": ["pop", "super_pop"], "device": "cpu", "cv_representation": mode,
              "training": {"hidden": 0, "max_epochs": 2, "patience": 0, "batch_size": 8}}  # fmt: skip
    if mode == "transductive":
        _, images = expected_fold_images(gn, np.arange(len(gn)), MAX_VARIANTS)
        torch.manual_seed(0)
        save_cae(
            CAE(architecture(images.shape[-1], MAX_VARIANTS, latent_dim=3, base_channels=4)),
            tmp_path / "cae.pt",
            tmp_path / "cae.json",
            {"variant_index": list(range(MAX_VARIANTS))},
        )
        inputs |= {"cae_weights": tmp_path / "cae.pt", "cae_json": tmp_path / "cae.json"}
        params["fold_cae"] = None
    else:
        params["fold_cae"] = {"training": TRAINING, "representation": REPRESENTATION}
    d = tmp_path / "cv" / "pop"
    names = ("predictions", "metrics", "per_class", "confusion", "confusion_normalized", "auc", "trials")
    out = {n: d / f"{n}.tsv" for n in names} | {
        n: d / f"{n}.png" for n in ("confusion_png", "roc_png", "f1_png")
    }
    out["representation"] = d / "representation.json"
    call(
        evaluate_classifier,
        input=inputs,
        output=out,
        params=params,
        wildcards={"cohort": "toy", "level": "pop"},
    )

    metrics = read_table(d / "metrics.tsv")
    assert set(metrics["cv_representation"]) == {mode} and {"f1", "mcc"} <= set(metrics["metric"])
    about = json.loads((d / "representation.json").read_text())
    assert about["cv_representation"] == mode and about["level"] == "pop"
    if mode == "inductive":
        assert [r["fold"] for r in about["folds"]] == [0, 1, 2]
        assert [r["n_train"] for r in about["folds"]] == [24, 24, 24]
        assert {r["n_variants"] for r in about["folds"]} == {MAX_VARIANTS}
    else:
        assert about["cae"]["n_variants"] == MAX_VARIANTS and "folds" not in about


def test_a_sequence_fold_cae_reads_the_training_rows_with_their_means(monkeypatch):
    """representation.architecture sequence: the fold's CAE trains on the int8 rows of the training samples
    (GenotypeData), a missing call imputed with the training samples' means, for every sample too."""
    from popcen.batches import GenotypeData

    gn, samples = cohort(4)
    pops = samples["pop"].to_numpy()
    train = np.flatnonzero(stratified_folds(pops, 3, seed=1) != 1)
    seen = []
    real = rep.train_cae

    def recording(data, *args, **kw):
        seen.append(data)
        return real(data, *args, **kw)

    monkeypatch.setattr(rep, "train_cae", recording)
    representation = {**REPRESENTATION, "architecture": "sequence", "max_variants": 0, "patch": 2}
    fitted = train_fold_cae(gn, train, TRAINING, representation, stratify=pops, device="cpu")
    (data,) = seen
    assert isinstance(data, GenotypeData) and isinstance(fitted.data, GenotypeData)
    np.testing.assert_array_equal(data.alt_count, gn[train])  # every variant: no choice without a cap
    np.testing.assert_array_equal(fitted.data.alt_count, gn)
    x = gn[train].astype(float)
    x[x < 0] = np.nan
    np.testing.assert_allclose(data.means, np.nanmean(x, axis=0), rtol=1e-6)
    assert fitted.variant_index.tolist() == list(range(N_VARIANTS))
    assert fitted.cae_config["architecture"] == "sequence"


def test_the_summary_names_the_cv_mode():
    from popcen.summary import cv_representation_note

    row = {"model": "cae_classifier", "level": "pop", "metric": "f1", "value": 0.9}
    inductive = pd.DataFrame([{**row, "cv_representation": "inductive"}])
    assert "<b>inductive</b>" in cv_representation_note({"pop": inductive})
    assert "transductive" not in cv_representation_note({"pop": inductive})
    # tables written before the mode existed ran the transductive CV
    note = cv_representation_note({"pop": pd.DataFrame([row])})
    assert "<b>transductive</b>" in note and "test folds included" in note
