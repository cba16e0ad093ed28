"""The shared training loop: seeding, early stopping, checkpoint resume, callbacks, loss TSV."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from popcen.training import (
    CHECKPOINT_FORMAT,
    CPU_ACTIVATION_BYTES,
    WIDE_FAN_IN,
    Callback,
    FitOptions,
    TrainContext,
    TrainState,
    data_digest,
    fan_in_param_groups,
    fit,
    make_loader,
    make_optimizer,
    micro_batch_size,
    recalibrate_batchnorm,
    resolve_device,
    seed_everything,
    split_indices,
)


def _data(n=96, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d,))
    y = (x @ w > 0).astype(int)
    return x, y


def _model(seed):
    seed_everything(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(8, 2)
    )


def _loss(model, batch):
    x, y = batch
    return torch.nn.functional.cross_entropy(model(x), y)


def _run(tmp_path, callbacks=(), max_epochs=6, patience=None, seed=3, data_seed=0, **kw):
    x, y = _data(seed=data_seed)
    train = make_loader(x[:80], y[:80], batch_size=16, shuffle=True, seed=seed)
    val = make_loader(x[80:], y[80:], batch_size=32)
    model = _model(seed)
    options = FitOptions(
        optimizer="adam",
        lr=0.01,
        max_epochs=max_epochs,
        patience=patience,
        seed=seed,
        device="cpu",
        checkpoint_dir=tmp_path / "ckpt",
        loss_tsv=tmp_path / "loss.tsv",
        progress=False,
        **kw,
    )
    result = fit(model, train, val, _loss, options, callbacks=callbacks)
    return model, result


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_lowers_the_loss_and_writes_the_tsv(tmp_path):
    model, result = _run(tmp_path, max_epochs=8)
    table = pd.read_csv(tmp_path / "loss.tsv", sep="\t")
    assert list(table.columns[:5]) == ["epoch", "train_loss", "val_loss", "seconds", "lr"]
    assert len(table) == 8 == result.epochs_run
    assert table["train_loss"].iloc[-1] < table["train_loss"].iloc[0]
    assert result.stop_reason == "max_epochs"
    assert not (tmp_path / "ckpt" / "last.pt").exists()  # finished runs leave no checkpoint to resume


def test_same_seed_same_weights_on_cpu(tmp_path):
    a, _ = _run(tmp_path / "a")
    b, _ = _run(tmp_path / "b")
    c, _ = _run(tmp_path / "c", seed=4)
    assert torch.equal(_weights(a), _weights(b))
    assert not torch.equal(_weights(a), _weights(c))


class _Interrupt(Callback):
    """Simulates a killed job in the middle of epoch ``at``."""

    def __init__(self, at):
        self.at = at

    def on_batch_end(self, ctx, loss):
        if ctx.epoch == self.at and ctx.step % 5 == 2:
            raise KeyboardInterrupt


def test_interrupted_training_resumes_and_matches_uninterrupted(tmp_path):
    reference, ref_result = _run(tmp_path / "ref", max_epochs=6)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", callbacks=[_Interrupt(at=4)], max_epochs=6)
    assert (tmp_path / "cut" / "ckpt" / "last.pt").exists()
    resumed, result = _run(tmp_path / "cut", max_epochs=6)
    assert result.resumed_from == 3
    assert result.epochs_run == 6
    assert torch.equal(_weights(resumed), _weights(reference))
    assert [h["train_loss"] for h in result.history] == [h["train_loss"] for h in ref_result.history]


def test_cosine_lr_schedule_follows_the_formula_and_survives_a_resume(tmp_path):
    import math

    reference, ref_result = _run(tmp_path / "ref", max_epochs=6, lr_schedule="cosine")
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * e / 6)) for e in range(6)]
    assert [h["lr"] for h in ref_result.history] == pytest.approx(expected)
    constant, _ = _run(tmp_path / "const", max_epochs=6)
    assert not torch.equal(_weights(constant), _weights(reference))  # the schedule changes training
    # a resumed run restarts from the decayed lr of its checkpoint, not from lr: the same curve and weights
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", callbacks=[_Interrupt(at=4)], max_epochs=6, lr_schedule="cosine")
    resumed, result = _run(tmp_path / "cut", max_epochs=6, lr_schedule="cosine")
    assert result.resumed_from == 3
    assert [h["lr"] for h in result.history] == pytest.approx(expected)
    assert torch.equal(_weights(resumed), _weights(reference))
    # a constant-lr checkpoint is not resumed by a cosine run (another run)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "other", callbacks=[_Interrupt(at=3)], max_epochs=6)
    _, result = _run(tmp_path / "other", max_epochs=6, lr_schedule="cosine")
    assert result.resumed_from is None
    with pytest.raises(ValueError, match="lr_schedule"):
        _run(tmp_path / "bad", lr_schedule="step")


def test_checkpoint_with_other_settings_is_not_resumed(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, callbacks=[_Interrupt(at=3)], max_epochs=6)
    _, result = _run(tmp_path, max_epochs=7)  # another max_epochs: a different run
    assert result.resumed_from is None and result.epochs_run == 7


def test_early_stopping_restores_the_best_weights(tmp_path):
    class Diverge(Callback):
        # After epoch 2 every step pushes the weights away: validation loss rises and never recovers.
        def on_batch_end(self, ctx, loss):
            if ctx.epoch > 2:
                with torch.no_grad():
                    for p in ctx.model.parameters():
                        p.add_(torch.randn_like(p))

    model, result = _run(tmp_path, callbacks=[Diverge()], max_epochs=20, patience=3)
    assert result.stop_reason == "early_stopping"
    assert result.epochs_run == result.best_epoch + 3
    x, y = _data()
    with torch.no_grad():
        val_loss = _loss(model.eval(), (torch.tensor(x[80:]), torch.tensor(y[80:]))).item()
    assert val_loss == pytest.approx(result.best_loss, rel=1e-5)


def test_a_callback_can_stop_training_and_add_columns(tmp_path):
    class StopAt(Callback):
        def on_batch_end(self, ctx, loss):
            if ctx.step == 7:
                ctx.request_stop("tolerance reached")

        def on_epoch_end(self, ctx, record):
            return {"step": ctx.step}

    _, result = _run(tmp_path, callbacks=[StopAt()], max_epochs=10)
    assert result.stop_reason == "tolerance reached"
    assert result.epochs_run == 2  # 5 steps per epoch: the stop comes in the second epoch
    assert pd.read_csv(tmp_path / "loss.tsv", sep="\t")["step"].tolist() == [5, 7]


def test_device_and_optimizer_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no GPU"):
            resolve_device("cuda")
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(params, "adagrad", lr=0.1), torch.optim.Adagrad)
    assert isinstance(make_optimizer(params, "sgd", lr=0.1), torch.optim.SGD)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(params, "rmsprop")


def test_split_indices_is_stratified_and_disjoint():
    labels = np.array(["a"] * 20 + ["b"] * 10)
    train, val = split_indices(30, 0.2, seed=1, stratify=labels)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 30
    assert (labels[val] == "a").sum() == 4 and (labels[val] == "b").sum() == 2
    assert np.array_equal(val, split_indices(30, 0.2, seed=1, stratify=labels)[1])


def test_recalibrate_batchnorm_gives_the_exact_statistics():
    seed_everything(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2, affine=False))
    x = torch.randn(40, 3) * 5 + 2
    model.train()
    model(x[:4])  # one step of momentum 0.1 from (0, 1): far from the data's statistics
    recalibrate_batchnorm(model, make_loader(x.numpy(), batch_size=40), device="cpu")
    with torch.no_grad():
        h = model[0](x)
    bn = model[1]
    torch.testing.assert_close(bn.running_mean, h.mean(0))
    torch.testing.assert_close(bn.running_var, h.var(0))  # unbiased, as BatchNorm keeps it
    assert bn.momentum == 0.1 and model.training


def test_schema_defaults_are_the_fit_options_defaults():
    # The `training` section's schema and FitOptions both state defaults: they must never drift apart.
    import yaml

    from tests.conftest import ROOT

    schema = yaml.safe_load((ROOT / "config/schemas/training.schema.yaml").read_text())
    properties = schema["properties"]["training"]["properties"]
    defaults = FitOptions()
    names = {f.name for f in dataclasses.fields(FitOptions)}
    assert set(properties) <= names  # every config key is a setting that from_settings accepts
    for key, spec in properties.items():
        assert "default" in spec, key
        assert spec["default"] == getattr(defaults, key), key


def test_fit_options_from_settings_refuses_unknown_keys():
    options = FitOptions.from_settings({"lr": 0.5, "batch_size": 8}, device="cpu", desc="x")
    assert (options.lr, options.batch_size, options.device, options.desc) == (0.5, 8, "cpu", "x")
    assert options.max_epochs == FitOptions().max_epochs
    with pytest.raises(ValueError, match="'learning_rate'"):
        FitOptions.from_settings({"learning_rate": 0.5})
    with pytest.raises(ValueError, match="'epochs'"):
        FitOptions.from_settings({}, epochs=3)
    with pytest.raises(ValueError, match="unknown optimizer"):
        FitOptions(optimizer="rmsprop")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.lr = 1.0


def _interrupted_checkpoint(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, callbacks=[_Interrupt(at=4)], max_epochs=6)
    path = tmp_path / "ckpt" / "last.pt"
    return path, torch.load(path, weights_only=False)


def test_checkpoint_without_a_format_number_resumes(tmp_path):
    # Checkpoints written before the format field existed have format 1's layout: they resume.
    reference, _ = _run(tmp_path / "ref", max_epochs=6)
    path, state = _interrupted_checkpoint(tmp_path / "cut")
    assert state["format"] == CHECKPOINT_FORMAT
    del state["format"]
    torch.save(state, path)
    resumed, result = _run(tmp_path / "cut", max_epochs=6)
    assert result.resumed_from == 3
    assert torch.equal(_weights(resumed), _weights(reference))


def test_checkpoint_of_another_format_is_refused_with_a_warning(tmp_path, caplog):
    path, state = _interrupted_checkpoint(tmp_path)
    torch.save({**state, "format": CHECKPOINT_FORMAT + 1}, path)
    with caplog.at_level("WARNING", logger="popcen"):
        _, result = _run(tmp_path, max_epochs=6)
    assert result.resumed_from is None and result.epochs_run == 6
    assert "format" in caplog.text and "starts afresh" in caplog.text


def test_train_state_save_and_restore_round_trip(tmp_path):
    class Counter(Callback):
        def __init__(self):
            self.n = 0

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.n = state["n"]

    def state_of(model, counter):
        ctx = TrainContext(model, make_optimizer(model.parameters(), "adam", lr=0.1), torch.device("cpu"))
        return TrainState(ctx, torch.amp.GradScaler("cuda", enabled=False), "fp", callbacks=[counter])

    saved = state_of(_model(1), Counter())
    saved.callbacks[0].n, saved.ctx.step, saved.best_epoch = 7, 12, 2
    saved.history.append({"epoch": 1, "train_loss": 0.5})
    saved.save(tmp_path / "a" / "last.pt")
    assert not (tmp_path / "a" / "last.tmp").exists()  # written aside, then moved over
    restored = state_of(_model(2), Counter())
    assert restored.restore(tmp_path / "a" / "last.pt")
    assert torch.equal(_weights(restored.ctx.model), _weights(saved.ctx.model))
    assert (restored.callbacks[0].n, restored.ctx.step, restored.best_epoch) == (7, 12, 2)
    assert restored.history == saved.history
    other = state_of(_model(2), Counter())
    other.fingerprint = "another run"
    assert not other.restore(tmp_path / "a" / "last.pt")
    assert not other.restore(tmp_path / "missing.pt")


def test_checkpoint_of_other_training_data_trains_from_scratch(tmp_path, caplog):
    # A killed run, then the features change (e.g. another LD seed): the rerun must not resume onto them.
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", callbacks=[_Interrupt(at=4)], max_epochs=6)
    assert (tmp_path / "cut" / "ckpt" / "last.pt").exists()
    with caplog.at_level("WARNING", logger="popcen"):
        rerun, result = _run(tmp_path / "cut", max_epochs=6, data_seed=1)
    assert result.resumed_from is None and result.epochs_run == 6
    assert "other training data" in caplog.text and "training starts from scratch" in caplog.text
    fresh, _ = _run(tmp_path / "fresh", max_epochs=6, data_seed=1)  # what training from scratch gives
    assert torch.equal(_weights(rerun), _weights(fresh))
    assert not (tmp_path / "cut" / "ckpt" / "last.pt").exists()  # no stale checkpoint left behind


def test_checkpoint_without_a_data_digest_is_not_resumed(tmp_path, caplog):
    path, state = _interrupted_checkpoint(tmp_path)
    del state["data_digest"]  # written before the digest existed: its data cannot be checked
    torch.save(state, path)
    with caplog.at_level("WARNING", logger="popcen"):
        _, result = _run(tmp_path, max_epochs=6)
    assert result.resumed_from is None and result.epochs_run == 6
    assert "data digest absent" in caplog.text


def test_data_digest_sees_every_change_and_reads_stores_in_blocks(monkeypatch):
    import zarr

    from popcen import training
    from popcen.batches import GenotypeBatches

    rng = np.random.default_rng(0)
    g = rng.integers(-1, 3, size=(12, 40)).astype(np.int8)
    means = np.full(40, 0.5, np.float32)

    def digest(a, rows=None, m=means):
        return data_digest(GenotypeBatches(a, rows, batch_size=4, means=m))

    base = digest(g)
    assert digest(g.copy()) == base
    flipped = g.copy()
    flipped[7, 31] = (flipped[7, 31] + 1) % 3  # one call
    assert digest(flipped) != base
    assert digest(g[::-1].copy()) != base  # the samples in another order
    assert digest(g, rows=np.arange(10)) != base  # another split
    assert digest(g, m=means + 0.1) != base
    monkeypatch.setattr(training, "DIGEST_BLOCK_BYTES", 50)  # a store is read a block of rows at a time
    store = zarr.array(g, chunks=(5, 40))
    assert digest(store) == base
    # a loader over tensors, and a loader of an unknown kind (not checked)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    assert data_digest(make_loader(x, batch_size=4)) != data_digest(make_loader(x + 1, batch_size=4))
    assert data_digest(make_loader(x, batch_size=4), None) != data_digest(make_loader(x, batch_size=4))
    assert data_digest([x]) is None


def test_full_batch_lbfgs_reaches_logistic_regressions_optimum(tmp_path):
    """optimizer lbfgs: multinomial logistic regression with an L2 weight of 1 / (C n) on the weights (not
    the intercept) ends at sklearn's solution for the same C, from mini-batches of any size, and stops by
    itself once converged."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    n, d, k, c = 150, 40, 3, 0.05
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, d)) + 0.8 * np.eye(k, d)[y]).astype(np.float32)  # overlapping classes
    reference = LogisticRegression(C=c, max_iter=10_000, tol=1e-10).fit(x, y)

    seed_everything(0)
    model = torch.nn.Linear(d, k)
    result = fit(
        model,
        make_loader(x, y, batch_size=16, shuffle=True),  # batches only split the sum: same objective
        None,
        lambda m, batch: torch.nn.functional.cross_entropy(m(batch[0]), batch[1]),
        FitOptions(
            optimizer="lbfgs",
            weight_decay=1 / (c * n),
            max_epochs=500,
            patience=None,
            restore_best=False,  # the optimum of the penalised objective, not the epoch of least data loss
            device="cpu",
            progress=False,
        ),
    )
    assert result.stop_reason.startswith("L-BFGS converged") and result.epochs_run < 500
    # sklearn's multinomial coefficients are defined up to a shift shared by the classes; the penalty
    # makes the weights sum to zero over the classes in both, the free intercepts are compared centred
    np.testing.assert_allclose(model.weight.detach().numpy(), reference.coef_, atol=2e-4)
    bias = model.bias.detach().numpy()
    np.testing.assert_allclose(
        bias - bias.mean(), reference.intercept_ - reference.intercept_.mean(), atol=2e-4
    )
    # no learning rate, no schedule: the line search chooses the step
    assert all(row["lr"] == 1.0 for row in result.history)


def test_full_batch_lbfgs_history_fits_its_memory_bound(monkeypatch):
    """L-BFGS keeps as many curvature pairs (two parameter-sized float32 vectors each) as fit in
    LBFGS_HISTORY_BYTES, at least 3 and at most 20."""
    import popcen.training as training

    model = torch.nn.Linear(40, 3)  # 123 parameters: a pair is 2 * 4 * 123 bytes
    pair = 2 * 4 * 123
    for budget, expected in ((5 * pair, 5), (5 * pair + pair // 2, 5), (0, 3), (10**12, 20)):
        monkeypatch.setattr(training, "LBFGS_HISTORY_BYTES", budget)
        assert make_optimizer(model.parameters(), "lbfgs").param_groups[0]["history_size"] == expected
    monkeypatch.setattr(training, "LBFGS_HISTORY_BYTES", 5 * pair)
    optimizer = make_optimizer(model.parameters(), "lbfgs", weight_decay=0.1)
    x, y = torch.randn(60, 40), torch.randint(0, 3, (60,))

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y) + optimizer.penalty()
        loss.backward()
        return loss.detach()

    for _ in range(12):
        optimizer.iterate(closure)
    assert len(optimizer.state[model.weight]["old_dirs"]) == 5


def test_full_batch_lbfgs_resumes_where_it_stopped(tmp_path):
    """A killed L-BFGS run resumes from its checkpoint (curvature history included) and ends with the weights
    of an uninterrupted run."""
    x, y = _data()

    class Kill(Callback):
        def on_batch_end(self, ctx, loss):  # once per epoch: one L-BFGS iteration
            if ctx.epoch == 4:
                raise KeyboardInterrupt

    def run(path, callbacks=()):
        seed_everything(0)
        model = torch.nn.Linear(6, 2)
        options = FitOptions(
            optimizer="lbfgs",
            weight_decay=0.05,
            max_epochs=7,
            patience=None,
            restore_best=False,
            device="cpu",
            checkpoint_dir=path,
            progress=False,
        )
        return model, fit(model, make_loader(x, y, batch_size=16), None, _loss, options, callbacks=callbacks)

    reference, _ = run(tmp_path / "ref")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", callbacks=[Kill()])
    resumed, result = run(tmp_path / "cut")
    assert result.resumed_from == 3 and result.epochs_run == 7
    assert torch.equal(_weights(resumed), _weights(reference))


def test_micro_batches_take_the_whole_batchs_step(tmp_path, caplog):
    """A batch over the activation budget is split into micro-batches whose gradients, weighted by their
    length, add up to the whole batch's: the same weights and losses as unsplit training."""
    x, y = _data()

    def run(sample_bytes):
        seed_everything(3)
        model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        train = make_loader(x[:80], y[:80], batch_size=16, shuffle=True, seed=3)
        options = FitOptions(optimizer="adam", lr=0.01, batch_size=16, max_epochs=3, patience=None, seed=3,
                             device="cpu", progress=False, sample_bytes=sample_bytes)  # fmt: skip
        return model, fit(model, train, None, _loss, options)

    whole, whole_result = run(None)
    with caplog.at_level("INFO", logger="popcen"):
        split, split_result = run(CPU_ACTIVATION_BYTES / 5.5)  # 16 = 5 + 5 + 5 + 1
    assert "batches of 16 trained as micro-batches of 5" in caplog.text
    torch.testing.assert_close(_weights(split), _weights(whole), rtol=1e-5, atol=1e-6)
    for a, b in zip(split_result.history, whole_result.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


def test_micro_batch_size_follows_the_budget():
    cpu = torch.device("cpu")
    assert micro_batch_size(32, None, cpu) == 32
    assert micro_batch_size(32, CPU_ACTIVATION_BYTES / 7.5, cpu) == 7
    assert micro_batch_size(32, CPU_ACTIVATION_BYTES / 100, cpu) == 32  # never more than the batch
    assert micro_batch_size(32, 3 * CPU_ACTIVATION_BYTES, cpu) == 1  # one sample even over the budget


def test_layers_wider_than_the_fan_in_bound_learn_at_a_scaled_rate():
    """Adam moves each weight by ~lr, so a layer over F inputs moves its outputs by up to lr·F: the weights
    of a Linear wider than WIDE_FAN_IN learn at lr · WIDE_FAN_IN / F, its bias and narrower layers at lr."""
    wide_in = 4 * WIDE_FAN_IN
    model = torch.nn.Sequential(torch.nn.Linear(wide_in, 3), torch.nn.Linear(3, 2))
    groups = fan_in_param_groups(model, 0.002)
    assert [g["lr"] for g in groups] == [0.002, pytest.approx(0.0005)]
    assert groups[1]["params"] == [model[0].weight]
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in model.parameters()}
    # one Adam step from zero gradient history: each wide weight moves by its group's lr
    optimizer = make_optimizer(groups, "adam", 0.002, 0.0)
    before = model[0].weight.detach().clone()
    model(torch.ones(1, wide_in)).sum().backward()
    optimizer.step()
    torch.testing.assert_close((model[0].weight - before).abs().max().item(), 0.0005, rtol=1e-3, atol=0)
    # a narrow model keeps one group at lr: the optimiser of a small cohort is unchanged
    assert [g["lr"] for g in fan_in_param_groups(torch.nn.Linear(WIDE_FAN_IN, 3), 0.002)] == [0.002]
