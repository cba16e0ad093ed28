"""The classifier head on the CAE encoder: separable classes are learnt, a frozen encoder stays frozen."""

import numpy as np
import pytest
import torch

from popcen.classification.cv import evaluate_level, stratified_folds
from popcen.classification.model import class_weights
from popcen.classification.train import TrainSettings, cross_validated_proba, fit_classifier, predict_proba
from popcen.images import to_images
from popcen.models.cae import CAE, architecture


def separable(n_per_class=12, n_classes=3, n_variants=64, seed=0):
    """Class k carries the alt allele (count 2) on its own block of variants, noise elsewhere."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = (rng.random((len(y), n_variants)) < 0.1).astype(np.float32)
    block = n_variants // n_classes
    for k in range(n_classes):
        x[y == k, k * block:(k + 1) * block] = 1.0
    return to_images(x), y


def cae_for(images, n_variants):
    torch.manual_seed(0)
    cae = CAE(architecture(images.shape[-1], n_variants, latent_dim=4, base_channels=4))
    return cae.config.to_dict(), cae.state_dict()


def test_class_weights_by_hand():
    # counts 3, 1, 0 -> weights 4 / (2 * 3), 4 / (2 * 1), 0
    np.testing.assert_allclose(class_weights(np.array([0, 0, 0, 1]), 3), [2 / 3, 2, 0])


@pytest.mark.parametrize("encoder_output", ["conv", "latent"])
def test_separable_classes_give_f1_one(encoder_output):
    images, y = separable()
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(encoder_output=encoder_output, optimizer="adam", lr=0.01, max_epochs=15, patience=15,
                             batch_size=8, hidden=16, noise_std=0.05, dropout=0.1, device="cpu",
                             fine_tune=encoder_output == "latent")
    folds = stratified_folds(y, 3, seed=0)
    proba, _ = cross_validated_proba(images, y, 3, cfg, state, settings, folds)
    summary = evaluate_level(y, proba, [0, 1, 2], folds)["summary"]
    assert summary["f1"] == pytest.approx(1.0)
    assert summary["mcc"] == pytest.approx(1.0)


def test_frozen_encoder_is_not_changed_and_noise_only_in_training():
    images, y = separable()
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(max_epochs=3, patience=0, batch_size=8, device="cpu", noise_std=1.0)
    model, _ = fit_classifier(images, y, 3, cfg, state, settings, np.arange(0, 36, 2), np.arange(1, 36, 2))
    after = model.state_dict()
    for key, value in state.items():
        if key.startswith("encoder_conv."):
            assert torch.equal(after[key].cpu(), value), key  # weights and batch-norm statistics
    p1, p2 = predict_proba(model, images, "cpu"), predict_proba(model, images, "cpu")
    np.testing.assert_array_equal(p1, p2)  # eval mode: deterministic
    np.testing.assert_allclose(p1.sum(1), 1, rtol=1e-5)


def test_fine_tune_changes_the_encoder():
    images, y = separable()
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(max_epochs=2, patience=0, batch_size=8, device="cpu", fine_tune=True)
    model, _ = fit_classifier(images, y, 3, cfg, state, settings, np.arange(36), np.arange(0))
    key = "encoder_conv.0.weight"
    assert not torch.equal(model.state_dict()[key].cpu(), state[key])


def test_head_input_is_standardised_with_fit_samples_only_and_saved(tmp_path):
    from popcen.classification.io import load_classifier, save_classifier
    from popcen.classification.train import encoder_features

    images, y = separable()
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(optimizer="adam", lr=0.01, max_epochs=2, patience=2, device="cpu")
    fit_index, val_index = np.arange(0, len(y), 2), np.arange(1, len(y), 2)
    model, _ = fit_classifier(images, y, 3, cfg, state, settings, fit_index, val_index)
    feats = encoder_features(model, images, "cpu")
    scaling = model.head[1]
    # mean/std over the fit samples only: differ from those over all samples on this data
    np.testing.assert_allclose(scaling.mean.numpy(), feats[fit_index].mean(0), rtol=1e-4, atol=1e-6)
    std = feats[fit_index].std(0)
    np.testing.assert_allclose(scaling.std.numpy(), np.where(std > 1e-6, std, 1.0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(scaling.mean.numpy(), feats.mean(0))
    # the statistics travel with the saved model: same probabilities after a round trip
    save_classifier(model, tmp_path / "m.pt", tmp_path / "m.json", {})
    loaded, _ = load_classifier(tmp_path / "m.pt", tmp_path / "m.json")
    np.testing.assert_allclose(predict_proba(loaded, images, "cpu"), predict_proba(model, images, "cpu"), atol=1e-6)
    np.testing.assert_allclose(loaded.head[1].mean.numpy(), scaling.mean.numpy())
