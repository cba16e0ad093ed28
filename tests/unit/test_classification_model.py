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
        x[y == k, k * block : (k + 1) * block] = 1.0
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
    settings = TrainSettings(
        encoder_output=encoder_output,
        optimizer="adam",
        lr=0.01,
        max_epochs=15,
        patience=15,
        batch_size=8,
        hidden=16,
        noise_std=0.05,
        dropout=0.1,
        l2_c=0.0,  # the default's L2 stands for C = 0.001: far too strong for 20 training samples
        device="cpu",
        # the untrained CAE's encoder must learn here: full-size steps for it too
        fine_tune=encoder_output == "latent",
        encoder_lr_scale=1.0,
    )
    folds = stratified_folds(y, 3, seed=0)
    proba, _ = cross_validated_proba(images, y, 3, cfg, state, settings, folds)
    summary = evaluate_level(y, proba, [0, 1, 2], folds)["summary"]
    assert summary["f1"] == pytest.approx(1.0)
    assert summary["mcc"] == pytest.approx(1.0)


def test_streamed_frozen_features_train_the_same_classifier(monkeypatch):
    """Frozen features too wide to hold are computed batch by batch: the head (standardisation included)
    and its probabilities are those of the held-features path, fold by fold, whatever the row order."""
    import popcen.classification.train as train

    images, y = separable(seed=3)
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(
        optimizer="adam",
        max_epochs=4,
        patience=0,
        batch_size=8,
        device="cpu",
        noise_std=0.3,
        dropout=0.2,
        l2_c=0.5,
    )
    folds = stratified_folds(y, 3, seed=1)
    held, _ = cross_validated_proba(images, y, 3, cfg, state, settings, folds)
    monkeypatch.setattr(train, "MAX_HELD_FEATURE_BYTES", 0)
    assert train.frozen_features(images, cfg, state, settings, 3) is None
    streamed, _ = cross_validated_proba(images, y, 3, cfg, state, settings, folds)
    np.testing.assert_allclose(streamed, held, atol=1e-4)
    model, _ = fit_classifier(images, y, 3, cfg, state, settings, np.arange(0, 36, 2), np.arange(0))
    features = train.encoder_features(model, images, "cpu")[0:36:2].astype(np.float64)
    np.testing.assert_allclose(model.scaling.mean.numpy(), features.mean(0), atol=1e-5)
    std = features.std(0)
    np.testing.assert_allclose(model.scaling.std.numpy()[std > 1e-3], std[std > 1e-3], rtol=1e-3)
    rows = np.array([30, 2, 17, 5])
    np.testing.assert_allclose(
        predict_proba(model, images, "cpu", rows=rows), predict_proba(model, images, "cpu")[rows], atol=1e-6
    )


def test_default_head_is_logistic_regression_on_the_standardised_features():
    """The default (a linear head, optimizer lbfgs, l2_c = C) is sklearn's balanced logistic regression with
    that C on the frozen encoder's features standardised over the fit samples: the same probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    import popcen.classification.train as train

    images, y = separable(seed=5)
    flip = np.random.default_rng(5).random(len(y)) < 0.2  # overlapping classes: no perfect separation
    y = np.where(flip, (y + 1) % 3, y)
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(device="cpu", l2_c=0.05)
    assert (settings.optimizer, settings.hidden, settings.patience) == ("lbfgs", 0, 0)
    fit = np.arange(0, 36, 2)
    y_fit = y.copy()
    y_fit[fit[:2]] = 1  # every class in the fit samples, unbalanced
    model, result = fit_classifier(
        images, y_fit, 3, cfg, state, settings, fit, np.arange(0), restore_best=False
    )
    assert result.stop_reason.startswith("L-BFGS converged")
    features = train.encoder_features(model, images, "cpu").astype(np.float64)
    scaler = StandardScaler().fit(features[fit])
    keep = scaler.scale_ > 1e-6  # constant features carry nothing (the head only centres them)
    reference = LogisticRegression(C=0.05, class_weight="balanced", max_iter=10_000, tol=1e-10)
    reference.fit(scaler.transform(features[fit])[:, keep], y_fit[fit])
    expected = reference.predict_proba(scaler.transform(features)[:, keep])
    np.testing.assert_allclose(predict_proba(model, images, "cpu"), expected, atol=2e-3)


def test_lbfgs_needs_a_deterministic_head():
    for key, value in (("dropout", 0.2), ("noise_std", 0.1), ("fine_tune", True)):
        with pytest.raises(ValueError, match="lbfgs needs a deterministic objective"):
            TrainSettings(**{key: value})
        assert getattr(TrainSettings(optimizer="adam", **{key: value}), key) == value


def test_l2_c_is_one_over_c_n_of_each_fit(monkeypatch):
    """l2_c (logistic regression's C) gives the head an L2 weight of 1 / (C n) for the n samples fitted."""
    import popcen.classification.train as train

    seen = []
    real = train.make_classifier_optimizer
    monkeypatch.setattr(
        train, "make_classifier_optimizer", lambda m, s: seen.append(s.weight_decay) or real(m, s)
    )
    images, y = separable()
    cfg, state = cae_for(images, 64)
    for n, c in ((18, 0.01), (30, 0.001)):
        settings = TrainSettings(max_epochs=1, patience=0, device="cpu", weight_decay=9.0, l2_c=c)
        fit_classifier(images, y, 3, cfg, state, settings, np.arange(n), np.arange(0))
    np.testing.assert_allclose(seen, [1 / (0.01 * 18), 1 / (0.001 * 30)])
    fit_classifier(
        images,
        y,
        3,
        cfg,
        state,
        TrainSettings(max_epochs=1, device="cpu", weight_decay=9.0, l2_c=0.0),
        np.arange(18),
        np.arange(0),
    )
    assert seen[-1] == 9.0


def test_frozen_encoder_is_not_changed_and_noise_only_in_training():
    images, y = separable()
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(
        optimizer="adam", max_epochs=3, patience=0, batch_size=8, device="cpu", noise_std=1.0
    )
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
    settings = TrainSettings(
        optimizer="adam", max_epochs=2, patience=0, batch_size=8, device="cpu", fine_tune=True
    )
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
    np.testing.assert_allclose(
        predict_proba(loaded, images, "cpu"), predict_proba(model, images, "cpu"), atol=1e-6
    )
    np.testing.assert_allclose(loaded.head[1].mean.numpy(), scaling.mean.numpy())


def test_encoder_blocks_tap_the_first_blocks_of_a_deeper_cae():
    from popcen.classification.model import ClassifierConfig, build_classifier, encoder_width

    torch.manual_seed(0)
    cae = CAE(
        architecture(32, 1000, latent_dim=4, base_channels=4, max_depth=2)
    )  # 32 -> 16 -> 8, channels 4, 8
    assert cae.config.channels == (4, 8)
    x = torch.rand(3, 1, 32, 32)
    first = build_classifier(
        cae.config, cae.state_dict(), ClassifierConfig(n_classes=2, encoder_blocks=1)
    ).eval()
    with torch.no_grad():
        expected = cae.eval().encoder_conv[3](
            cae.encoder_conv[2](cae.encoder_conv[1](cae.encoder_conv[0](x)))
        )
        np.testing.assert_allclose(first.encode(x).numpy(), expected.numpy(), rtol=1e-6)
    assert tuple(first.encode(x).shape) == (3, 4, 16, 16)
    assert encoder_width(cae.config, "conv", 1) == 4 * 16 * 16
    # 0 and anything beyond the CAE's depth: all blocks (the last map, 8 x 8 x 8)
    for blocks in (0, 2, 5):
        assert encoder_width(cae.config, "conv", blocks) == 8 * 8 * 8
        model = build_classifier(
            cae.config, cae.state_dict(), ClassifierConfig(n_classes=2, encoder_blocks=blocks)
        )
        assert tuple(model.eval()(x).shape) == (3, 2)
    with pytest.raises(ValueError, match="latent"):
        build_classifier(
            cae.config, None, ClassifierConfig(n_classes=2, encoder_output="latent", encoder_blocks=1)
        )
    # without the first block's max-pool: its 4 x 32 x 32 map (conv, batch-norm, ReLU)
    unpooled = build_classifier(
        cae.config, cae.state_dict(), ClassifierConfig(n_classes=2, encoder_blocks=1, encoder_pool=False)
    ).eval()
    with torch.no_grad():
        np.testing.assert_allclose(unpooled.encode(x).numpy(), cae.encoder_conv[:3](x).numpy(), rtol=1e-6)
        assert tuple(unpooled(x).shape) == (3, 2)
    assert encoder_width(cae.config, "conv", 1, pool=False) == 4 * 32 * 32


def test_linear_head_learns_separable_classes():
    images, y = separable()
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(
        hidden=0,
        noise_std=0.0,
        dropout=0.0,
        optimizer="adam",
        lr=0.01,
        l2_c=0.0,  # the defaults are logistic regression's C = 0.001 and a cosine decay on an unpooled map;
        lr_schedule="constant",  # these tests were sized for no L2, a constant step and the pooled map
        encoder_pool=True,
        max_epochs=15,
        patience=15,
        batch_size=8,
        device="cpu",
    )
    folds = stratified_folds(y, 3, seed=0)
    proba, _ = cross_validated_proba(images, y, 3, cfg, state, settings, folds)
    assert evaluate_level(y, proba, [0, 1, 2], folds)["summary"]["f1"] == pytest.approx(1.0)
    model, _ = fit_classifier(images, y, 3, cfg, state, settings, np.arange(36), np.arange(0))
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 1 and linears[0].out_features == 3


def test_fine_tune_gives_the_encoder_its_own_learning_rate():
    from popcen.classification.model import build_classifier
    from popcen.classification.train import make_classifier_optimizer

    images, y = separable()
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(optimizer="adam", fine_tune=True, lr=0.02, encoder_lr_scale=0.25, device="cpu")
    model = build_classifier(cfg, state, settings.head(3))
    head_group, encoder_group = make_classifier_optimizer(model, settings).param_groups
    assert head_group["lr"] == pytest.approx(0.02) and encoder_group["lr"] == pytest.approx(0.005)
    assert {id(p) for p in encoder_group["params"]} == {id(p) for p in model.encoder_parameters()}
    # encoder lr 0: the encoder's weights stay, the head's move
    settings = TrainSettings(
        optimizer="adam",
        fine_tune=True,
        encoder_lr_scale=0.0,
        max_epochs=2,
        patience=0,
        batch_size=8,
        device="cpu",
    )
    model, _ = fit_classifier(images, y, 3, cfg, state, settings, np.arange(36), np.arange(0))
    assert torch.equal(model.state_dict()["encoder_conv.0.weight"].cpu(), state["encoder_conv.0.weight"])
    assert model.encoder_conv[0].weight.requires_grad


def test_model_of_an_older_format_is_refused_clearly(tmp_path):
    import json

    from popcen.classification.io import load_classifier, save_classifier
    from popcen.classification.model import build_classifier
    from popcen.errors import PopcenInputError

    images, _ = separable()
    cfg, state = cae_for(images, 64)
    model = build_classifier(cfg, state, TrainSettings().head(3))
    save_classifier(model, tmp_path / "m.pt", tmp_path / "m.json", {})
    doc = json.loads((tmp_path / "m.json").read_text())
    del doc["format"]  # what models saved before the format number look like
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(PopcenInputError, match="format 1.*re-run train_classifier"):
        load_classifier(tmp_path / "m.pt", tmp_path / "m.json")
    # right format, weights of another network: also a clear error, not a state-dict traceback
    doc["format"] = 2
    doc["classifier"]["hidden"] = 7
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(PopcenInputError, match="weights do not fit"):
        load_classifier(tmp_path / "m.pt", tmp_path / "m.json")


def test_refit_trains_the_chosen_settings_on_all_training_samples():
    from popcen.classification.train import encoder_features, train_with_search

    images, y = separable()
    cfg, state = cae_for(images, 64)
    train = np.arange(30)
    settings = TrainSettings(
        refit=True, max_epochs=3, patience=3, batch_size=8, device="cpu", val_fraction=0.3
    )
    model, chosen, trials = train_with_search(images, y, 3, cfg, state, settings, train)
    feats = encoder_features(model, images, "cpu")
    # the input standardisation comes from every training sample (not only the 70 % fit part) ...
    np.testing.assert_allclose(model.scaling.mean.numpy(), feats[train].mean(0), rtol=1e-4, atol=1e-6)
    # ... while without refit it comes from the fit part only
    plain, _, _ = train_with_search(
        images, y, 3, cfg, state, TrainSettings(**{**vars(settings), "refit": False}), train
    )
    assert not np.allclose(plain.scaling.mean.numpy(), feats[train].mean(0))
    assert chosen.refit and len(trials) == 1


def test_coarse_cross_entropy_by_hand_and_off_by_default():
    from popcen.classification.train import coarse_cross_entropy

    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 3.0, 0.0]])
    target = torch.tensor([1, 3])
    coarse_of = torch.tensor([0, 0, 1, 1])
    p = torch.softmax(logits, 1)
    by_hand = -(torch.log(p[0, :2].sum()) + torch.log(p[1, 2:].sum())) / 2
    assert coarse_cross_entropy(logits, target, coarse_of).item() == pytest.approx(by_hand.item(), rel=1e-6)
    # group weights: nll_loss's weighted mean
    w = torch.tensor([1.0, 3.0])
    weighted = -(1 * torch.log(p[0, :2].sum()) + 3 * torch.log(p[1, 2:].sum())) / 4
    assert coarse_cross_entropy(logits, target, coarse_of, w).item() == pytest.approx(
        weighted.item(), rel=1e-6
    )
    assert TrainSettings().coarse_weight == 0.0


def test_coarse_loss_trains_and_separable_classes_are_still_learnt():
    images, y = separable(n_classes=4)
    cfg, state = cae_for(images, 64)
    settings = TrainSettings(
        optimizer="adam",
        lr=0.01,
        l2_c=0.0,  # the defaults are logistic regression's C = 0.001 and a cosine decay on an unpooled map;
        lr_schedule="constant",  # these tests were sized for no L2, a constant step and the pooled map
        encoder_pool=True,
        max_epochs=10,
        patience=10,
        batch_size=8,
        hidden=16,
        noise_std=0.05,
        dropout=0.1,
        device="cpu",
        coarse_weight=1.0,
        coarse_of=(0, 0, 1, 1),
    )
    model, result = fit_classifier(
        images, y, 4, cfg, state, settings, np.arange(0, 48, 2), np.arange(1, 48, 2)
    )
    assert (predict_proba(model, images[1::2], "cpu").argmax(1) == y[1::2]).all()


def test_coarse_groups_follow_the_sorted_class_order():
    import pandas as pd

    from popcen.classification.metrics import coarse_groups
    from popcen.classification.train import with_coarse_loss

    samples = pd.DataFrame(
        {
            "pop": ["YRI", "CEU", "CHB", "GBR", "LWK", "CEU"],
            "super_pop": ["AFR", "EUR", "EAS", "EUR", "AFR", "EUR"],
        }
    )
    # fine classes sorted: CEU CHB GBR LWK YRI; coarse sorted: AFR(0) EAS(1) EUR(2)
    assert coarse_groups(samples, "pop", "super_pop") == (2, 1, 2, 0, 0)
    off = TrainSettings()
    assert with_coarse_loss(off, samples, "pop", "super_pop") is off
    on = TrainSettings(coarse_weight=0.5)
    assert with_coarse_loss(on, samples, "pop", "super_pop").coarse_of == (2, 1, 2, 0, 0)
    assert with_coarse_loss(on, samples, "super_pop", "super_pop").coarse_of is None  # no coarser level
    assert with_coarse_loss(on, samples, "pop", None).coarse_of is None
    with pytest.raises(ValueError, match="more than one"):
        coarse_groups(pd.DataFrame({"pop": ["A", "A"], "super_pop": ["X", "Y"]}), "pop", "super_pop")


def test_seed_ensemble_averages_separately_trained_seeds_and_round_trips(tmp_path):
    from popcen.classification.io import load_classifier, save_classifier
    from popcen.classification.model import ClassifierEnsemble
    from popcen.classification.train import train_with_search

    images, y = separable()
    cfg, state = cae_for(images, 64)
    train = np.arange(30)
    settings = TrainSettings(
        optimizer="adam",
        max_epochs=3,
        patience=3,
        batch_size=8,
        device="cpu",
        val_fraction=0.3,
        seed=5,
        fine_tune=True,
        noise_std=0.5,
    )
    ensemble, chosen, _ = train_with_search(
        images, y, 3, cfg, state, TrainSettings(**{**vars(settings), "ensemble": 3}), train
    )
    assert isinstance(ensemble, ClassifierEnsemble) and len(ensemble.members) == 3
    # each member is the model a single run with seed 5, 6, 7 trains (inner split, weights, noise, batches)
    singles = [
        train_with_search(images, y, 3, cfg, state, TrainSettings(**{**vars(settings), "seed": s}), train)[0]
        for s in (5, 6, 7)
    ]
    single_proba = np.stack([predict_proba(m, images, "cpu") for m in singles])
    assert not np.allclose(single_proba[0], single_proba[1])  # the seeds do differ
    proba = predict_proba(ensemble, images, "cpu")
    np.testing.assert_allclose(proba, single_proba.mean(0), atol=1e-5)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    # the members' weights (fine-tuned encoders, input scalings) travel with the saved model
    save_classifier(ensemble, tmp_path / "m.pt", tmp_path / "m.json", {})
    loaded, meta = load_classifier(tmp_path / "m.pt", tmp_path / "m.json")
    assert meta["ensemble"] == 3 and isinstance(loaded, ClassifierEnsemble)
    np.testing.assert_allclose(predict_proba(loaded, images, "cpu"), proba, atol=1e-6)


def test_lr_schedule_reaches_the_shared_loop():
    import math

    images, y = separable()
    cfg, state = cae_for(images, 64)
    idx = np.arange(len(y))
    settings = TrainSettings(
        optimizer="adam",
        hidden=0,
        lr=0.02,
        lr_schedule="constant",
        max_epochs=4,
        patience=0,
        batch_size=8,
        device="cpu",
    )
    _, constant = fit_classifier(images, y, 3, cfg, state, settings, idx, idx[:0])
    _, cosine = fit_classifier(
        images, y, 3, cfg, state, TrainSettings(**{**vars(settings), "lr_schedule": "cosine"}), idx, idx[:0]
    )
    np.testing.assert_allclose(constant.losses()["lr"], [0.02] * 4)
    # epoch e runs at lr (1 + cos(pi (e - 1) / 4)) / 2
    np.testing.assert_allclose(
        cosine.losses()["lr"], [0.02 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    )


def test_patience_zero_trains_every_epoch_and_refits_for_all_of_them():
    from popcen.classification.train import train_with_search

    images, _ = separable()
    # random labels: the validation loss is lowest after the first epochs, so an early-stopping refit would
    # run fewer epochs than max_epochs
    y = np.random.default_rng(0).integers(0, 3, len(images))
    cfg, state = cae_for(images, 64)
    train = np.arange(len(y))
    settings = TrainSettings(
        hidden=0, lr=0.05, max_epochs=6, patience=0, batch_size=8, device="cpu", val_fraction=0.3, refit=True
    )
    model, _, trials = train_with_search(images, y, 3, cfg, state, settings, train)
    assert trials.epochs.tolist() == [6]
    # the refit is the same training run on all training samples for all max_epochs, last weights kept
    direct, result = fit_classifier(images, y, 3, cfg, state, settings, train, train[:0], restore_best=False)
    assert result.epochs_run == 6
    for name, value in direct.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, msg=name)


def test_the_rules_train_and_cross_validate_on_a_feature_set(tmp_path):
    """pipeline.classification's train_classifier and evaluate_classifier on files, as Snakemake runs them."""
    import json

    import pandas as pd
    import zarr

    from popcen.classification.io import load_classifier
    from popcen.classification.model import cae_images
    from popcen.errors import PopcenInputError
    from popcen.io import read_table
    from popcen.pipeline import call
    from popcen.pipeline.classification import classification_folds, evaluate_classifier, train_classifier
    from popcen.representation import save_cae

    rng = np.random.default_rng(0)
    pops = np.repeat(["CEU", "GBR", "YRI"], 10)
    samples = pd.DataFrame(
        {
            "sample": [f"s{i}" for i in range(30)],
            "pop": pops,
            "super_pop": np.where(pops == "YRI", "AFR", "EUR"),
        }
    )
    gn = rng.integers(0, 3, size=(30, 49)).astype(np.int8)
    gn[pops == "YRI", :10] = 2
    variants = pd.DataFrame(
        {
            "id": [f"rs{i}" for i in range(49)],
            "chrom": "1",
            "pos": np.arange(49) + 1,
            "ref": "A",
            "alt": "G",
            "af": gn.mean(0) / 2,
        }
    )
    f = tmp_path / "features"
    f.mkdir()
    zarr.open_group(str(f / "genotypes.zarr"), mode="w").create_dataset("alt_count", data=gn)
    variants.to_csv(f / "variants.tsv", sep="\t", index=False)
    samples.to_csv(f / "samples.tsv", sep="\t", index=False)
    images, _ = cae_images(gn, {}, {"side": 7, "n_pixels": 49})
    torch.manual_seed(0)
    save_cae(
        CAE(architecture(images.shape[-1], 49, latent_dim=4, base_channels=4)),
        tmp_path / "cae.pt",
        tmp_path / "cae.json",
        {"variant_index": list(range(49))},
    )
    with pytest.raises(PopcenInputError, match="re-run train_cae"):
        cae_images(gn[:, :40], {}, {"side": 7, "n_pixels": 49})
    # from the Zarr store, only the CAE's variants are read: the images of those columns
    from popcen.features import open_genotypes
    from popcen.images import scale_genotypes, to_images

    index = [0, 2, 3, 9, 10, 11, 20, 21, 30, 31, 32, 40, 44, 45, 47, 48]
    subset, rows = cae_images(
        open_genotypes(f / "genotypes.zarr"), {"variant_index": index}, {"side": 4, "n_pixels": 16}
    )
    np.testing.assert_array_equal(subset, to_images(scale_genotypes(gn[:, index])))
    assert rows.tolist() == index

    features = {
        "genotypes": f / "genotypes.zarr",
        "variants": f / "variants.tsv",
        "samples": f / "samples.tsv",
        "cae_weights": tmp_path / "cae.pt",
        "cae_json": tmp_path / "cae.json",
    }
    params = {
        "label_columns": ["pop", "super_pop"],
        "device": "cpu",
        "training": {"max_epochs": 2, "patience": 0, "batch_size": 8, "coarse_weight": 1.0},
    }
    c = tmp_path / "classification"
    call(
        train_classifier,
        input=features,
        params=params,
        output={
            "weights": c / "model.pt",
            "meta": c / "model.json",
            "losses": c / "losses.tsv",
            "trials": c / "trials.tsv",
        },
    )
    model, meta = load_classifier(c / "model.pt", c / "model.json")
    assert meta["labels"] == ["CEU", "GBR", "YRI"] and meta["coarse_map"] == {
        "CEU": "EUR",
        "GBR": "EUR",
        "YRI": "AFR",
    }
    assert meta["settings"]["coarse_of"] == [1, 1, 0] and meta["variant_index"] == list(range(49))
    assert len(read_table(c / "losses.tsv")) == 2
    assert json.loads((c / "model.json").read_text())["n_samples"] == 30

    call(
        classification_folds,
        input={"samples": f / "samples.tsv"},
        output={"folds": c / "folds.tsv"},
        params={"label_column": "pop", "n_folds": 3, "seed": 1},
    )
    names = ("predictions", "metrics", "per_class", "confusion", "confusion_normalized", "auc", "trials")
    figures = ("confusion_png", "roc_png", "f1_png")
    for level in ("pop", "super_pop"):
        out = {n: c / "cv" / level / f"{n}.tsv" for n in names} | {
            n: c / "cv" / level / f"{n}.png" for n in figures
        }
        out["representation"] = c / "cv" / level / "representation.json"
        fine = [] if level == "pop" else c / "cv" / "pop" / "predictions.tsv"
        call(
            evaluate_classifier,
            input={**features, "folds": c / "folds.tsv", "fine_predictions": fine},
            output=out,
            params={**params, "cv_representation": "transductive"},
            wildcards={"cohort": "toy", "level": level},
        )
    metrics = read_table(c / "cv" / "super_pop" / "metrics.tsv")
    assert set(metrics["model"]) == {"cae_classifier", "cae_classifier_from_pop"}
    pop = read_table(c / "cv" / "pop" / "predictions.tsv")
    assert pop["fold"].tolist() == read_table(c / "folds.tsv")["fold"].tolist()
    confusion = pd.read_csv(c / "cv" / "pop" / "confusion.tsv", sep="\t", index_col=0)
    assert confusion.index.name == "true" and confusion.to_numpy().sum() == 30


def test_schema_defaults_are_the_train_settings_defaults():
    # The `classification` schema and TrainSettings both state defaults: they must never drift apart.
    import dataclasses

    import yaml

    from tests.conftest import ROOT

    schema = yaml.safe_load((ROOT / "config/schemas/classification.schema.yaml").read_text())
    properties = schema["properties"]["classification"]["properties"]
    # the keys of the folds (classification_folds) and of predict, which rules/classification.smk keeps out
    # of the classifier's training settings
    not_training = {
        "n_folds",
        "fold_seed",
        "cv_representation",
        "min_overlap",
        "strand_ambiguous",
        "min_af_correlation",
        "af_mismatch",
        "assign_threshold",
        "population_thresholds",
        "outlier_quantile",
    }
    names = {f.name for f in dataclasses.fields(TrainSettings)}
    assert set(properties) - not_training <= names  # every training key is a setting from_config reads
    assert names - set(properties) == {"device", "coarse_of"}  # set by the rules' code, not the config
    defaults = TrainSettings()
    for key in set(properties) - not_training:
        assert "default" in properties[key], key
        assert properties[key]["default"] == getattr(defaults, key), key


def test_inference_batches_shrink_with_the_encoder_width():
    """A (batch, F) float32 activation stays within INFER_ACTIVATION_BYTES: 1 M features -> 64 samples."""
    from types import SimpleNamespace

    from popcen.batches import INFER_BATCH, GenotypeData, sample_width
    from popcen.classification.train import infer_batch

    assert infer_batch(SimpleNamespace(width=1_048_576)) == 2**28 // (4 * 1_048_576) == 64
    assert infer_batch(SimpleNamespace(width=20)) == INFER_BATCH
    assert infer_batch(SimpleNamespace(width=2**30)) == 8
    assert infer_batch(SimpleNamespace(members=[SimpleNamespace(width=1_048_576)])) == 64
    # the width of a model's input: an image's pixels, a GenotypeData's variants
    assert sample_width(np.zeros((3, 1, 64, 64), dtype=np.float32)) == 4096
    assert (
        sample_width(GenotypeData(np.zeros((3, 1_000_000), dtype=np.int8), np.zeros(1_000_000))) == 1_000_000
    )
