"""The one training loop of the project, shared by every PyTorch model (CAE, CEC, classifier, MLPs).

Usage
-----
::

    from popcen.training import FitOptions, fit, make_loader, split_indices

    # the `training` config section (schemas/training.schema.yaml) and what the rule itself decides
    options = FitOptions.from_settings(config["training"], device="auto", desc="classifier",
                                       checkpoint_dir="results/demo/checkpoints/classifier",
                                       loss_tsv="results/demo/classifier/losses.tsv")
    train_idx, val_idx = split_indices(n, options.val_fraction, options.seed, stratify=labels)
    train = make_loader(x[train_idx], y[train_idx], batch_size=options.batch_size, shuffle=True,
                        seed=options.seed)
    val = make_loader(x[val_idx], y[val_idx], batch_size=256)

    def loss_fn(model, batch):                 # batch: what the loader yields, already on the device
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x), y)

    result = fit(model, train, val, loss_fn, options, fingerprint={"n": n, "batch_size": options.batch_size})
    # the model now holds the weights of the best validation epoch, on ``result.device``

:class:`FitOptions` holds every setting of the loop and is the one place of their defaults (a unit test
keeps the schema's defaults equal to them); ``FitOptions.from_settings`` refuses keys it does not know.
Besides the options, ``fit`` takes what is not a setting: a ready optimiser (``optimizer=``, e.g. with a
learning rate per param group), callbacks, and the ``fingerprint`` of the data and model.

What ``fit`` does
-----------------
* **seed**: :func:`seed_everything` (``random``, ``numpy``, ``torch``; deterministic cuDNN), so that the
  same seed gives the same weights on the CPU.
* **device**: ``"auto"`` -> ``cuda`` when a GPU is visible, else ``cpu`` (:func:`resolve_device`).
* **mixed precision** on CUDA only (``torch.autocast`` float16 + ``GradScaler``); ``amp`` is ignored on CPU.
* **checkpoint each epoch** (``checkpoint_dir/last.pt``, written atomically by :meth:`TrainState.save`):
  model, optimizer, scaler, epoch, best weights, loss history, RNG states (global and the loader's sampler
  generator) and the state of every callback. Calling ``fit`` again with the same arguments after an
  interruption resumes after the last finished epoch, and on the CPU ends with the same weights as an
  uninterrupted run. A checkpoint written with other hyper-parameters or another architecture
  (``fingerprint``), or in another layout (:data:`CHECKPOINT_FORMAT`; checkpoints written before the
  number existed have the layout of format 1), is ignored with a warning. So is one written on other
  training data: the checkpoint holds a digest of the loaders' data (:func:`data_digest`: the arrays of
  a :func:`make_loader`, or the alt counts, rows and means of a :class:`popcen.batches.GenotypeBatches`),
  and a run whose data differ (other variants after a changed LD seed, other samples, another split)
  trains from scratch and says so in the log; a checkpoint without a digest (written before it
  existed) is ignored too, as its data cannot be checked. The checkpoint is deleted when
  ``fit`` returns normally (``keep_checkpoint=False``), so that a later run with a changed config never
  resumes a finished one.
* **early stopping** on the validation loss (the training loss when ``val_loader`` is None): stop after
  ``patience`` epochs without an improvement larger than ``min_delta``; the best weights are restored
  (``restore_best``).
* **full-batch L-BFGS** (``optimizer="lbfgs"``): an epoch is one quasi-Newton iteration on the mean loss over
  every batch of the training loader (gradients accumulated batch by batch), with a line search instead of
  a learning rate; training also stops when the objective no longer changes.
* **micro-batches** (``sample_bytes``): a training batch whose activations (``sample_bytes`` per sample)
  exceed the device's budget (:func:`micro_batch_size`) is split into micro-batches; their gradients are
  accumulated, weighted by length, into one optimiser step on the batch's mean loss. The sequence CAE over
  a whole genome keeps ~0.5 GB per sample at 1 M variants, so a batch of 32 would need ~16 GB.
* **learning-rate schedule** (``lr_schedule``): ``"constant"``, or ``"cosine"``: epoch e (1-based) runs at
  ``lr · (1 + cos(π (e − 1) / max_epochs)) / 2`` (each param group scaled from its own starting lr), a
  function of the epoch number only, so that a resumed run continues on the same curve.
* **tqdm** progress bar over epochs (``progress``), one log line per epoch on ``logging.getLogger("popcen")``.
* **loss TSV** rewritten after each epoch: ``epoch, train_loss, val_loss, seconds, lr`` plus whatever the
  callbacks' ``on_epoch_end`` return.

Callbacks (:class:`Callback`) see a :class:`TrainContext` at the start, after every optimiser step and
after every epoch; they can request a stop (``ctx.request_stop("reason")``), which ends training after
that batch (CEC stops when fewer than ``tol`` of the samples change cluster), and their ``state_dict`` is
saved in the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

log = logging.getLogger("popcen")

OPTIMIZERS = ("adagrad", "adam", "adamw", "sgd", "lbfgs")
LR_SCHEDULES = ("constant", "cosine")
CHECKPOINT_NAME = "last.pt"
# Layout of last.pt (the keys of TrainState.state_dict). Bump it when they change: a checkpoint of another
# format is then ignored with a warning instead of failing on a missing key halfway through a restore.
CHECKPOINT_FORMAT = 1


# --------------------------------------------------------------------------------------------- setup
def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed ``random``, ``numpy`` and ``torch`` (CPU and CUDA).

    Parameters
    ----------
    seed : int
        The seed.
    deterministic : bool
        Ask cuDNN for deterministic kernels (CPU kernels already are, for a fixed thread count).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        # CPU kernels are deterministic for a fixed thread count; on CUDA, cuDNN must be told. We do not
        # call torch.use_deterministic_algorithms: it imports torch's compiler stack (~10 s per process)
        # and would only warn on the few CUDA ops (scatter_add, ...) that lack a deterministic version.
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cuda"`` without a GPU is an error that says so.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or torch.device

    Returns
    -------
    torch.device
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                "config asks for device 'cuda' but PyTorch sees no GPU here; use device: auto or cpu"
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {device!r}: expected auto, cpu or cuda")


def make_optimizer(
    parameters: Iterable[torch.nn.Parameter],
    name: str = "adagrad",
    lr: float = 0.01,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """Build an optimiser from its config name.

    Parameters
    ----------
    parameters : iterable of Parameter (or param groups)
    name : {"adagrad", "adam", "adamw", "sgd", "lbfgs"}
        The paper trains its networks with AdaGrad. ``lbfgs``: :class:`FullBatchLBFGS` (``lr`` not used).
    lr, weight_decay : float
    momentum : float
        Used by ``sgd`` only.
    """
    name = name.lower()
    if name == "lbfgs":
        return FullBatchLBFGS(parameters, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, weight_decay=weight_decay, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}")


# Activations one training step may keep for its backward pass on a CPU (host memory, beside the data and
# the model): a batch whose activations would exceed it is split into micro-batches (micro_batch_size). On
# a GPU the budget is half the card's memory.
CPU_ACTIVATION_BYTES = 2 * 1024**3


def micro_batch_size(batch_size: int, sample_bytes: float | None, device: torch.device) -> int:
    """The largest number of samples, at most ``batch_size``, whose activations (``sample_bytes`` each) fit
    the device's budget: :data:`CPU_ACTIVATION_BYTES` on a CPU, half the memory of a CUDA device; at least
    one. ``sample_bytes`` None or 0: ``batch_size``."""
    if not sample_bytes:
        return batch_size
    if device.type == "cuda":
        budget = 0.5 * torch.cuda.get_device_properties(device).total_memory
    else:
        budget = CPU_ACTIVATION_BYTES
    return int(max(1, min(batch_size, budget // sample_bytes)))


def _split_batch(batch: Any, size: int) -> list:
    """A batch (tensor, or tuple/list of tensors with the samples on dim 0) as consecutive micro-batches
    of at most ``size`` samples."""
    n = _batch_len(batch)
    if n <= size:
        return [batch]
    if isinstance(batch, torch.Tensor):
        return list(batch.split(size))
    if isinstance(batch, (list, tuple)):
        parts = [_split_batch(b, size) if isinstance(b, torch.Tensor) else None for b in batch]
        return [
            type(batch)(p[i] if p is not None else b for p, b in zip(parts, batch, strict=True))
            for i in range(math.ceil(n / size))
        ]
    raise TypeError(f"cannot split a batch of type {type(batch).__name__} into micro-batches")


# Adam moves every weight by about its learning rate, so a dense layer that sums F inputs can move each output
# by up to lr·F in one step. The sequence CAE's PCA path sums every variant: at the default lr its
# reconstruction error after the first epoch grew with V² (0.05 on the 1000 Genomes subset's 5,191 variants,
# 2.1 at 250 k and 40 at 1 M synthetic ones). Layers wider than this learn at lr · WIDE_FAN_IN / F, so a
# genome's path moves per step as a 16 k-variant one (the full 1000 Genomes pruned set) does.
WIDE_FAN_IN = 16_384


def fan_in_param_groups(model: torch.nn.Module, lr: float) -> list[dict]:
    """Param groups for :func:`make_optimizer`: the weights of every ``nn.Linear`` with more than
    :data:`WIDE_FAN_IN` inputs at ``lr · WIDE_FAN_IN / in_features``, everything else at ``lr``."""
    wide = {
        id(m.weight): WIDE_FAN_IN / m.in_features
        for m in model.modules()
        if isinstance(m, torch.nn.Linear) and m.in_features > WIDE_FAN_IN
    }
    groups = [{"params": [p for p in model.parameters() if id(p) not in wide], "lr": lr}]
    for p in model.parameters():
        if id(p) in wide:
            groups.append({"params": [p], "lr": lr * wide[id(p)]})
    return groups


# Bound on L-BFGS's stored curvature pairs (two parameter-sized float32 vectors each): a whole-genome head
# (26 classes x 4 M features = 104 M weights) keeps 3 pairs, a 1000 Genomes subset's head (0.25 M) 20.
LBFGS_HISTORY_BYTES = 1024**3


class FullBatchLBFGS(torch.optim.LBFGS):
    """L-BFGS on the whole training set: each epoch of :func:`fit` is one quasi-Newton iteration on the mean
    loss over every batch of the training loader, its step chosen by a strong-Wolfe line search (so there is
    no learning rate and no schedule), plus ``weight_decay / 2 · ||W||²`` over the weight matrices (parameters
    of two or more dimensions: biases are not penalised, as logistic regression leaves its intercept free).

    Why: a strongly L2-regularised linear head on 10⁴-10⁶ standardised features has weights of ~10⁻³ at its
    optimum, the size of one Adam step, so Adam circles the optimum. On 1000 Genomes Adam stopped 1.6 % above
    the regularised objective's minimum even after 200 epochs at a 10x larger lr, and scored 0.01 F1 below
    logistic regression on the same features; L-BFGS reaches sklearn's minimum.

    The objective must be deterministic: no dropout or noise, a frozen encoder. One param group (no
    per-group learning rate). Memory: ``history_size`` pairs of parameter-sized vectors, at most
    :data:`LBFGS_HISTORY_BYTES` (at least 3 pairs, at most 20), plus ~6 more vectors.
    """

    full_batch = True

    def __init__(self, params, weight_decay: float = 0.0):
        params = list(params)
        super().__init__(
            params,
            lr=1.0,
            max_iter=1,  # one iteration per epoch: fit's loop, checkpoints and log stay per epoch
            max_eval=26,  # the line search's evaluations + 1 (torch's default, max_iter · 5/4, would be 1: none)
            history_size=20,
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
            line_search_fn="strong_wolfe",
        )
        n_weights = sum(p.numel() for group in self.param_groups for p in group["params"])
        pair_bytes = 2 * 4 * max(n_weights, 1)
        for group in self.param_groups:  # a group's own lr (e.g. the classifier's) is not a step here
            group["lr"] = 1.0
            group["history_size"] = int(min(20, max(3, LBFGS_HISTORY_BYTES // pair_bytes)))
        self.weight_decay = float(weight_decay)

    def iterate(self, closure, rtol: float = 1e-8) -> bool:
        """One iteration; True when the objective at its start equals the previous iteration's within
        ``rtol`` (kept in the optimiser's state, so a resumed run sees it)."""
        objective = float(self.step(closure))
        state = self.state[self.param_groups[0]["params"][0]]
        previous = state.get("epoch_objective")
        state["epoch_objective"] = objective
        return previous is not None and abs(previous - objective) <= rtol * max(1.0, abs(objective))

    def penalty(self) -> torch.Tensor | float:
        """weight_decay / 2 · Σ ||W||² over the weight matrices (its gradient is added by autograd)."""
        if not self.weight_decay:
            return 0.0
        weights = [p for group in self.param_groups for p in group["params"] if p.dim() > 1]
        return 0.5 * self.weight_decay * sum(w.pow(2).sum() for w in weights)


# ---------------------------------------------------------------------------------------------- data
def split_indices(
    n: int, val_fraction: float, seed: int, stratify: Sequence | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split of ``range(n)``, optionally stratified by a label per item.

    Parameters
    ----------
    n : int
        Number of items.
    val_fraction : float
        Fraction in the validation part, in [0, 1). 0 gives an empty validation part.
    seed : int
    stratify : array-like of length n, optional
        Each label contributes ``round(val_fraction * count)`` items to validation (at least one when
        the label has two or more items and ``val_fraction > 0``).

    Returns
    -------
    train, val : np.ndarray of int
        Sorted indices.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    if val_fraction == 0 or n < 2:
        return np.arange(n), np.arange(0)
    if stratify is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(stratify)
        if len(labels) != n:
            raise ValueError(f"stratify has {len(labels)} labels for {n} items")
        groups = [np.flatnonzero(labels == u) for u in np.unique(labels)]
    val = []
    for g in groups:
        k = int(round(val_fraction * len(g)))
        if k == 0 and len(g) >= 2:
            k = 1
        k = min(k, len(g) - 1) if len(g) > 1 else 0
        val.extend(rng.choice(g, size=k, replace=False).tolist())
    val = np.sort(np.asarray(val, dtype=int))
    train = np.setdiff1d(np.arange(n), val)
    return train, val


def make_loader(*arrays, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False):
    """A DataLoader over in-memory arrays (numpy or tensors), yielding tuples of tensors.

    Float arrays become float32, integer arrays int64. With ``shuffle`` the order comes from a generator
    seeded with ``seed``, whose state ``fit`` checkpoints, so that a resumed run sees the same batches.
    """
    tensors = []
    for a in arrays:
        t = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a)
        t = t.float() if t.is_floating_point() else t.long()
        tensors.append(t)
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        TensorDataset(*tensors),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        drop_last=drop_last,
    )


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a batch (tensor, tuple/list/dict of tensors, nested) to ``device``; other objects unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def _batch_len(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_len(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_len(next(iter(batch.values())))
    return 1


@torch.no_grad()
def infer(model: torch.nn.Module, loader: Iterable, forward: Callable, device: str | torch.device = "auto"):
    """Run ``forward(model, batch)`` over a loader in eval mode; concatenate the outputs on the CPU.

    ``forward`` returns a tensor or a tuple of tensors (e.g. latent and reconstruction); the result has
    the same structure with the batches concatenated along dimension 0, as numpy arrays.
    """
    device = resolve_device(device)
    model.to(device)
    was_training = model.training
    model.eval()
    outputs: list = []
    for batch in loader:
        out = forward(model, to_device(batch, device))
        outputs.append(out)
    model.train(was_training)
    if not outputs:
        raise ValueError("infer: the loader yielded no batch")
    if isinstance(outputs[0], (tuple, list)):
        return tuple(torch.cat([o[i].float().cpu() for o in outputs]).numpy() for i in range(len(outputs[0])))
    return torch.cat([o.float().cpu() for o in outputs]).numpy()


@torch.no_grad()
def recalibrate_batchnorm(
    model: torch.nn.Module, loader: Iterable, device: str | torch.device = "auto"
) -> None:
    """Recompute every batch-norm layer's running mean and variance as exact averages over ``loader``.

    A model restored from an early epoch (early stopping) carries running statistics that have seen only a
    few batches since their start at mean 0 / variance 1; in eval mode its outputs are then off in scale.
    The first tensor of each batch is the model's input.
    """
    device = resolve_device(device)
    model.to(device)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was_training = model.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    model.train()
    for batch in loader:
        batch = to_device(batch, device)
        model(batch[0] if isinstance(batch, (list, tuple)) else batch)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)


# ------------------------------------------------------------------------------------------ callbacks
@dataclass
class TrainContext:
    """What callbacks see: the live model and optimiser, where training is, and a way to stop it."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    epoch: int = 0  # 1-based number of the epoch running (0 before the first)
    step: int = 0  # optimiser steps taken so far, over all epochs
    stop_reason: str | None = None

    def request_stop(self, reason: str) -> None:
        """End training after the current batch; ``reason`` is reported in :class:`FitResult`."""
        self.stop_reason = reason


class Callback:
    """Hooks into :func:`fit`. Override what you need; ``state_dict`` goes into the checkpoint."""

    def on_train_begin(self, ctx: TrainContext) -> None:
        """Called once before the first epoch (also after a resume)."""

    def on_batch_end(self, ctx: TrainContext, loss: float) -> None:
        """Called after each optimiser step (``ctx.step`` already counts it)."""

    def on_epoch_end(self, ctx: TrainContext, record: dict) -> dict | None:
        """Called after validation; a returned dict adds columns to the epoch's row of the loss TSV."""
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


# --------------------------------------------------------------------------------------------- result
@dataclass
class FitResult:
    """What happened in :func:`fit`.

    history : one dict per epoch (epoch, train_loss, val_loss, seconds, lr, callback columns)
    best_epoch : epoch whose weights the model holds when ``restore_best`` (else the last epoch)
    stop_reason : "max_epochs", "early_stopping" or the reason a callback gave
    resumed_from : the epoch a checkpoint was resumed after, or None
    """

    history: list[dict]
    best_epoch: int
    best_loss: float
    stop_reason: str
    device: str
    resumed_from: int | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    def losses(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)


# -------------------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class FitOptions:
    """Every setting of :func:`fit`, and the one place of their defaults.

    The keys of the ``training`` config section are fields of the same name; ``tests/unit/test_training.py``
    checks that the defaults of ``config/schemas/training.schema.yaml`` equal these. The other fields are
    set by the code that calls ``fit`` (device, paths, labels).

    Attributes
    ----------
    optimizer : {"adagrad", "adam", "adamw", "sgd", "lbfgs"}
        Name for :func:`make_optimizer`, built over ``model.parameters()`` with ``lr`` and ``weight_decay``
        unless ``fit`` is given a ready optimiser. The paper trains its networks with AdaGrad; Adam
        converges in fewer epochs on the CAE. ``lbfgs`` (:class:`FullBatchLBFGS`): each epoch is one
        iteration over the whole training loader (the classifier's linear head; not the training schema's
        choice, whose models train on mini-batches).
    lr, weight_decay : float
    lr_schedule : {"constant", "cosine"}
        ``"cosine"``: the learning rate of every param group decays from its starting value to ~0 over
        ``max_epochs`` epochs (set at the start of each epoch; early stopping may end training before).
    batch_size : int
    val_fraction : float
        Not used by ``fit`` itself: the caller builds its loaders and train/validation split with them
        (they are keys of the ``training`` section), and puts them into ``fingerprint``.
    max_epochs : int
    patience : int or None
        Epochs without improvement before stopping; None or 0 disables early stopping.
    min_delta : float
        An improvement must be larger than this to reset the patience.
    restore_best : bool
        Load the best epoch's weights at the end (else keep the last ones).
    seed : int
        Seeds everything before the optimiser state is built (the model's initial weights are whatever the
        caller built: seed before constructing the model, e.g. with :func:`seed_everything`).
    device : {"auto", "cpu", "cuda"} or torch.device
    amp : bool
        Mixed precision; only used on CUDA.
    grad_clip : float, optional
        Clip the gradients' global norm to this value.
    checkpoint_dir : path, optional
        Where ``last.pt`` is written after each epoch and resumed from.
    keep_checkpoint : bool
        Keep ``last.pt`` after a normal end (default: delete it so that no finished run is ever resumed).
    loss_tsv : path, optional
        Table of the losses per epoch, rewritten after each epoch.
    progress : bool
        Show a tqdm bar over epochs.
    desc : str
        Label of the progress bar, log lines and errors.
    sample_bytes : float, optional
        Activations one training sample keeps for the backward pass (e.g.
        :func:`popcen.models.seqcae.footprint`); with it, a batch larger than the device's budget is
        trained as micro-batches (:func:`micro_batch_size`) with accumulated gradients.
    """

    optimizer: str = "adam"
    lr: float = 0.002
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    batch_size: int = 32
    val_fraction: float = 0.1
    max_epochs: int = 20
    patience: int | None = 5
    min_delta: float = 0.0
    restore_best: bool = True
    seed: int = 1
    device: str | torch.device = "auto"
    amp: bool = True
    grad_clip: float | None = None
    checkpoint_dir: str | Path | None = None
    keep_checkpoint: bool = False
    loss_tsv: str | Path | None = None
    progress: bool = True
    desc: str = "train"
    sample_bytes: float | None = None

    def __post_init__(self) -> None:
        # Checked here rather than at the first epoch: a misspelt name fails before any data is loaded.
        if self.optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"unknown lr_schedule {self.lr_schedule!r}: expected one of {', '.join(LR_SCHEDULES)}"
            )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None, **overrides: Any) -> FitOptions:
        """Options from a config section, with ``overrides`` on top.

        Parameters
        ----------
        settings : mapping, optional
            E.g. the ``training`` section with a stage's own ``training`` keys merged over it.
        **overrides
            Fields the caller sets (``device``, ``checkpoint_dir``, ``loss_tsv``, ``desc``, ...).

        Raises
        ------
        ValueError
            For a key that is not a field, naming it: a misspelt setting must not fall back to its
            default without a word.
        """
        values = {**(settings or {}), **overrides}
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"unknown training setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
            )
        return cls(**values)


# ---------------------------------------------------------------------------------------------- state
def _fingerprint(model: torch.nn.Module, settings: dict) -> str:
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    blob = json.dumps({"shapes": shapes, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _resume_settings(options: FitOptions, optimizer: torch.optim.Optimizer | None, user: dict | None) -> dict:
    """What a checkpoint must have been written with to be resumed (beside the parameter shapes)."""
    settings = {
        "optimizer": options.optimizer if optimizer is None else type(optimizer).__name__,
        "lr": options.lr,
        "weight_decay": options.weight_decay,
        "seed": options.seed,
        "max_epochs": options.max_epochs,
        "user": user or {},
    }
    if options.lr_schedule != "constant":  # (only then: checkpoints written before the option still resume)
        settings["lr_schedule"] = options.lr_schedule
    return settings


def _cpu_state(state: dict) -> dict:
    return {
        k: v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else v for k, v in state.items()
    }


def _sampler_generator(loader) -> torch.Generator | None:
    for obj in (
        getattr(loader, "generator", None),
        getattr(getattr(loader, "sampler", None), "generator", None),
    ):
        if isinstance(obj, torch.Generator):
            return obj
    return None


def _callback_keys(callbacks: Sequence[Callback]) -> list[tuple[str, Callback]]:
    """Name callbacks by class and rank among their class, so that a resumed run with a callback more or
    less (e.g. a debugging one) still gives each saved state back to the right callback."""
    seen: dict[str, int] = {}
    keys = []
    for cb in callbacks:
        name = type(cb).__qualname__
        keys.append((f"{name}#{seen.get(name, 0)}", cb))
        seen[name] = seen.get(name, 0) + 1
    return keys


@dataclass
class TrainState:
    """Everything training changes, so everything a checkpoint must hold to resume where it stopped.

    The live objects (model, optimiser, device, epoch, step: ``ctx``; ``scaler``; the callbacks; the train
    loader's sampler ``generator``) are updated in place by :meth:`restore`; the bookkeeping (history,
    best epoch and weights, patience count, stop reason) lives here. :meth:`state_dict` and
    :meth:`load_state_dict` are the one description of the checkpoint's content.
    """

    ctx: TrainContext
    scaler: torch.amp.GradScaler
    fingerprint: str  # of the model's parameter shapes and the settings a resume must share
    data_digest: str | None = None  # of the training data (data_digest); None: not checked
    callbacks: Sequence[Callback] = ()
    generator: torch.Generator | None = None
    history: list[dict] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_weights: dict | None = None  # CPU copy of the best epoch's state dict; None: the starting weights
    stop_reason: str | None = None  # set when training has ended (a finished run kept with keep_checkpoint)
    micro_batch: int | None = None  # samples per micro-batch of a training step (None: the whole batch)

    def __post_init__(self) -> None:
        if self.best_weights is None:
            self.best_weights = _cpu_state(self.ctx.model.state_dict())

    def end_epoch(self, record: dict, watched: float, options: FitOptions) -> None:
        """Book an epoch: history, best weights and patience (``watched``: the loss early stopping sees),
        and whether training ends here."""
        self.history.append(record)
        if watched < self.best_loss - options.min_delta:
            self.best_loss, self.best_epoch, self.bad_epochs = watched, record["epoch"], 0
            self.best_weights = _cpu_state(self.ctx.model.state_dict())
        else:
            self.bad_epochs += 1
        if self.ctx.stop_reason:
            self.stop_reason = self.ctx.stop_reason
        elif options.patience and self.bad_epochs >= options.patience:
            self.stop_reason = "early_stopping"
        elif len(self.history) >= options.max_epochs:
            self.stop_reason = "max_epochs"

    def state_dict(self) -> dict:
        """The checkpoint: tensors on the CPU, RNG states of ``random``, numpy, torch (CPU, CUDA) and the
        loader's sampler, each callback's state under :func:`_callback_keys`."""
        return {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": self.fingerprint,
            "data_digest": self.data_digest,
            "model": _cpu_state(self.ctx.model.state_dict()),
            "optimizer": self.ctx.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": self.history,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_state": self.best_weights,
            "stop_reason": self.stop_reason,
            "step": self.ctx.step,
            "rng": {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "loader": self.generator.get_state() if self.generator is not None else None,
            },
            "callbacks": {key: cb.state_dict() for key, cb in _callback_keys(self.callbacks)},
        }

    def load_state_dict(self, state: dict) -> None:
        """Put a :meth:`state_dict` back into the live objects and the RNGs (no fingerprint check)."""
        self.ctx.model.load_state_dict(state["model"])
        self.ctx.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.history = state["history"]
        self.best_loss, self.best_epoch, self.bad_epochs = (
            state["best_loss"],
            state["best_epoch"],
            state["bad_epochs"],
        )
        self.best_weights, self.stop_reason, self.ctx.step = (
            state["best_state"],
            state["stop_reason"],
            state["step"],
        )
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if torch.cuda.is_available() and rng.get("cuda") is not None:
            torch.cuda.set_rng_state_all(rng["cuda"])
        if self.generator is not None and rng.get("loader") is not None:
            self.generator.set_state(rng["loader"])
        for key, cb in _callback_keys(self.callbacks):
            if key in state["callbacks"]:
                cb.load_state_dict(state["callbacks"][key])

    def save(self, path: str | Path) -> None:
        """Write :meth:`state_dict` to ``path`` atomically: a kill while saving leaves the previous file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)

    def restore(self, path: str | Path, desc: str = "train") -> bool:
        """Resume from the checkpoint at ``path`` if there is one of this format and fingerprint.

        Returns
        -------
        bool
            True when the state was restored; False (with a warning for a checkpoint that is refused) when
            training starts afresh.
        """
        path = Path(path)
        if not path.exists():
            return False
        # weights_only=False: the RNG states are Python tuples and numpy arrays; the file is our own.
        state = torch.load(path, map_location="cpu", weights_only=False)
        found = state.get("format", 1)  # checkpoints from before the field have format 1's layout
        if found != CHECKPOINT_FORMAT:
            log.warning(
                "%s: ignoring checkpoint %s: its format is %s, this version of popcen reads format %d; "
                "training starts afresh",
                desc,
                path,
                found,
                CHECKPOINT_FORMAT,
            )
            return False
        if state.get("fingerprint") != self.fingerprint:
            log.warning("%s: ignoring checkpoint %s written with other settings", desc, path)
            return False
        if self.data_digest is not None and state.get("data_digest") != self.data_digest:
            log.warning(
                "%s: ignoring checkpoint %s: it was written on other training data (data digest %s, now %s: "
                "other variants, samples or split); training starts from scratch",
                desc,
                path,
                state.get("data_digest") or "absent",
                self.data_digest,
            )
            return False
        self.load_state_dict(state)
        log.info("%s: resumed from %s after epoch %d", desc, path, len(self.history))
        return True


# ----------------------------------------------------------------------------------------- data digest
DIGEST_BLOCK_BYTES = 1 << 26  # rows of a store (Zarr) array are read and hashed in blocks of about 64 MiB


def _hash_array(h, array) -> None:
    """Feed an array's dtype, shape and content to ``h``: a numpy array or tensor at once, any other array
    (a Zarr store) in blocks of rows, so that nothing larger than a block is held."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().contiguous().numpy()
    h.update(f"{np.dtype(array.dtype).str}{tuple(array.shape)}".encode())
    if isinstance(array, np.ndarray):
        h.update(np.ascontiguousarray(array).data)
        return
    row_bytes = max(int(np.prod(array.shape[1:], dtype=np.int64)) * np.dtype(array.dtype).itemsize, 1)
    step = max(DIGEST_BLOCK_BYTES // row_bytes, 1)
    for i in range(0, int(array.shape[0]), step):
        h.update(np.ascontiguousarray(array[i : i + step]).data)


def data_digest(*loaders) -> str | None:
    """A digest of what the loaders read, without iterating them (their sampler state is left alone):
    the tensors of a DataLoader over a TensorDataset (:func:`make_loader`), the alt counts, rows and means
    of a :class:`popcen.batches.GenotypeBatches`; None (a loader) hashes as absent. Returns None when a
    loader is of another kind (its data cannot be checked). One pass over the data: about a second per
    GiB, paid only by a run that checkpoints."""
    h = hashlib.blake2b(digest_size=12)
    for loader in loaders:
        h.update(b"|loader|")
        if loader is None:
            h.update(b"none")
        elif isinstance(loader, DataLoader) and isinstance(loader.dataset, TensorDataset):
            for tensor in loader.dataset.tensors:
                _hash_array(h, tensor)
        elif all(hasattr(loader, key) for key in ("alt_count", "rows", "means")):
            for array in (loader.rows, loader.means, loader.alt_count):
                _hash_array(h, array)
        else:
            return None
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ loop
def _write_tsv(history: list[dict], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    pd.DataFrame(history).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    os.replace(tmp, path)


def _set_lr(optimizer: torch.optim.Optimizer, base_lrs: list[float], options: FitOptions, epoch: int) -> None:
    """The learning rate of ``epoch`` (1-based): a function of the epoch number only, so that a resumed run
    continues on the curve of an uninterrupted one. (L-BFGS's line search chooses its own step.)"""
    if options.lr_schedule == "cosine" and not getattr(optimizer, "full_batch", False):
        scale = 0.5 * (1 + math.cos(math.pi * (epoch - 1) / options.max_epochs))
        for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = base * scale


def _train_step(state: TrainState, batch: Any, loss_fn: Callable, options: FitOptions) -> float:
    """One optimiser step on a batch's mean loss, its gradient accumulated over micro-batches of at most
    ``state.micro_batch`` samples (one micro-batch: the plain step); returns that mean loss."""
    ctx, scaler = state.ctx, state.scaler
    ctx.optimizer.zero_grad(set_to_none=True)
    n = _batch_len(batch)
    total = 0.0
    for part in _split_batch(batch, state.micro_batch or n):
        with (
            torch.enable_grad(),
            torch.autocast(ctx.device.type, dtype=torch.float16, enabled=scaler.is_enabled()),
        ):
            loss = loss_fn(ctx.model, part)
        _check_finite(loss, options, ctx)
        share = _batch_len(part) / n
        scaler.scale(loss * share if share < 1 else loss).backward()
        total += float(loss.detach()) * share
    if options.grad_clip:
        scaler.unscale_(ctx.optimizer)
        torch.nn.utils.clip_grad_norm_(ctx.model.parameters(), options.grad_clip)
    scaler.step(ctx.optimizer)
    scaler.update()
    ctx.step += 1
    return total


def _check_finite(loss: torch.Tensor, options: FitOptions, ctx: TrainContext) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"{options.desc}: loss became {loss.item()} at epoch {ctx.epoch}, step {ctx.step}"
        )


def _run_batches(
    state: TrainState, loader: Iterable, loss_fn: Callable, train: bool, options: FitOptions
) -> float:
    """One pass over ``loader`` (with optimiser steps and batch callbacks when ``train``); the mean loss,
    weighted by batch length. A callback's stop request ends the pass after its batch."""
    ctx = state.ctx
    total, count = 0.0, 0
    ctx.model.train(train)
    for batch in loader:
        batch = to_device(batch, ctx.device)
        if train:
            loss = _train_step(state, batch, loss_fn, options)
        else:
            with (
                torch.no_grad(),
                torch.autocast(ctx.device.type, dtype=torch.float16, enabled=state.scaler.is_enabled()),
            ):
                value = loss_fn(ctx.model, batch)
            _check_finite(value, options, ctx)
            loss = float(value)
        n = _batch_len(batch)
        total += loss * n
        count += n
        if train:
            for cb in state.callbacks:
                cb.on_batch_end(ctx, loss)
            if ctx.stop_reason:
                break
    ctx.model.train(True)
    return total / max(count, 1)


def _full_batch_step(state: TrainState, loader: Iterable, loss_fn: Callable, options: FitOptions) -> float:
    """One :class:`FullBatchLBFGS` iteration over the whole ``loader``; the mean loss (without the penalty)
    at the epoch's starting weights. Stops training when the objective no longer changes."""
    ctx, optimizer = state.ctx, state.ctx.optimizer
    ctx.model.train(True)
    losses: list[float] = []  # data loss at each evaluation of the line search

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=False)
        total, count = 0.0, 0
        for batch in loader:  # gradients of the summed loss, accumulated batch by batch
            batch = to_device(batch, ctx.device)
            loss = loss_fn(ctx.model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{options.desc}: loss became {loss.item()} at epoch {ctx.epoch}")
            n = _batch_len(batch)
            (loss * n).backward()
            total += float(loss.detach()) * n
            count += n
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad /= max(count, 1)
        penalty = optimizer.penalty()
        if torch.is_tensor(penalty):
            penalty.backward()
            penalty = float(penalty.detach())
        losses.append(total / max(count, 1))
        return torch.tensor(losses[-1] + penalty)

    if optimizer.iterate(closure):
        ctx.request_stop("L-BFGS converged (the objective no longer changes)")
    ctx.step += 1
    for cb in state.callbacks:
        cb.on_batch_end(ctx, losses[0])
    return losses[0]


def _run_epoch(state, train_loader, val_loader, loss_fn, options: FitOptions, base_lrs) -> tuple[dict, float]:
    """Train one epoch and validate; the epoch's row of the loss table (with the callbacks' columns) and
    the loss early stopping watches (validation, else training)."""
    ctx = state.ctx
    ctx.epoch = len(state.history) + 1
    _set_lr(ctx.optimizer, base_lrs, options, ctx.epoch)
    t0 = time.perf_counter()
    if getattr(ctx.optimizer, "full_batch", False):
        train_loss = _full_batch_step(state, train_loader, loss_fn, options)
    else:
        train_loss = _run_batches(state, train_loader, loss_fn, True, options)
    val_loss = (
        _run_batches(state, val_loader, loss_fn, False, options) if val_loader is not None else math.nan
    )
    record = {
        "epoch": ctx.epoch,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "seconds": time.perf_counter() - t0,
        "lr": ctx.optimizer.param_groups[0]["lr"],
    }
    for cb in state.callbacks:
        extra = cb.on_epoch_end(ctx, record)
        if extra:
            record.update(extra)
    return record, (val_loss if val_loader is not None else train_loss)


def _report_epoch(bar, record: dict, options: FitOptions) -> None:
    bar.update(1)
    bar.set_postfix(train=f"{record['train_loss']:.4g}", val=f"{record['val_loss']:.4g}")
    log.info(
        "%s epoch %d/%d train %.5g val %.5g (%.1fs)",
        options.desc,
        record["epoch"],
        options.max_epochs,
        record["train_loss"],
        record["val_loss"],
        record["seconds"],
    )


def _finish(
    state: TrainState, options: FitOptions, ckpt: Path | None, resumed_from, start: float
) -> FitResult:
    """Best weights back (``restore_best``), final loss table, checkpoint removed, the result."""
    if options.restore_best and state.history:
        state.ctx.model.load_state_dict(state.best_weights)
    else:
        state.best_epoch = len(state.history)
    if options.loss_tsv and state.history:
        _write_tsv(state.history, options.loss_tsv)
    if ckpt is not None and ckpt.exists() and not options.keep_checkpoint:
        ckpt.unlink()
    stop_reason = state.stop_reason or "max_epochs"
    log.info(
        "%s: stopped (%s) after %d epochs; best epoch %d, loss %.5g",
        options.desc,
        stop_reason,
        len(state.history),
        state.best_epoch,
        state.best_loss,
    )
    return FitResult(
        history=state.history,
        best_epoch=state.best_epoch,
        best_loss=float(state.best_loss),
        stop_reason=stop_reason,
        device=str(state.ctx.device),
        resumed_from=resumed_from,
        seconds=time.perf_counter() - start,
    )


# ------------------------------------------------------------------------------------------------ fit
def fit(
    model: torch.nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    options: FitOptions | None = None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    callbacks: Sequence[Callback] = (),
    fingerprint: dict | None = None,
) -> FitResult:
    """Train ``model`` by minimising ``loss_fn(model, batch)`` over ``train_loader``.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place; moved to the resolved device (it stays there).
    train_loader, val_loader : iterables of batches
        Usually :func:`make_loader`. ``val_loader`` None: early stopping watches the training loss.
    loss_fn : callable (model, batch) -> scalar tensor
        ``batch`` is what the loader yields, already moved to the device. It must return the *mean*
        loss of the batch; epoch losses are averages weighted by batch length.
    options : FitOptions, optional
        The settings (defaults: ``FitOptions()``).
    optimizer : torch.optim.Optimizer, optional
        A ready optimiser over this model's parameters (e.g. param groups with their own learning rates),
        used instead of the one ``options.optimizer`` names.
    callbacks : sequence of Callback
    fingerprint : dict, optional
        Settings that must match for a checkpoint to be resumed (architecture, data shape, batch size,
        ...); the model's parameter shapes and the optimiser/lr/weight decay/seed/max_epochs/lr schedule
        are always included.

    Returns
    -------
    FitResult
    """
    options = options or FitOptions()
    start = time.perf_counter()
    seed_everything(options.seed)
    device = resolve_device(options.device)
    model.to(device)
    fp = _fingerprint(model, _resume_settings(options, optimizer, fingerprint))
    if optimizer is None:
        optimizer = make_optimizer(model.parameters(), options.optimizer, options.lr, options.weight_decay)
    base_lrs = [group["lr"] for group in optimizer.param_groups]  # before a resume restores a decayed lr
    state = TrainState(
        TrainContext(model=model, optimizer=optimizer, device=device),
        scaler=torch.amp.GradScaler("cuda", enabled=options.amp and device.type == "cuda"),
        fingerprint=fp,
        callbacks=callbacks,
        generator=_sampler_generator(train_loader),
    )
    if options.sample_bytes:
        state.micro_batch = micro_batch_size(options.batch_size, options.sample_bytes, device)
        if state.micro_batch < options.batch_size:
            log.info(
                "%s: batches of %d trained as micro-batches of %d (%.0f MB of activations per sample)",
                options.desc,
                options.batch_size,
                state.micro_batch,
                options.sample_bytes / 1e6,
            )
    ckpt = Path(options.checkpoint_dir) / CHECKPOINT_NAME if options.checkpoint_dir else None
    if ckpt is not None:  # only a run that checkpoints pays for the pass over the data
        state.data_digest = data_digest(train_loader, val_loader)
    resumed_from = len(state.history) if ckpt is not None and state.restore(ckpt, options.desc) else None

    state.ctx.epoch = len(state.history)
    for cb in callbacks:
        cb.on_train_begin(state.ctx)
    bar = tqdm(
        total=options.max_epochs,
        initial=len(state.history),
        desc=options.desc,
        disable=not options.progress,
        unit="epoch",
        mininterval=1.0,
    )
    try:
        while state.stop_reason is None and len(state.history) < options.max_epochs:
            record, watched = _run_epoch(state, train_loader, val_loader, loss_fn, options, base_lrs)
            state.end_epoch(record, watched, options)
            if ckpt is not None:
                state.save(ckpt)  # after the bookkeeping, so that a resume continues at the next epoch
            if options.loss_tsv:
                _write_tsv(state.history, options.loss_tsv)
            _report_epoch(bar, record, options)
    finally:
        bar.close()
    return _finish(state, options, ckpt, resumed_from, start)
