"""Train CEC from a trained CAE: k-means initialisation, target refreshes, stop on ``tol``."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from popcen.batches import inference_batch, sample_loader
from popcen.models.cae import CAE
from popcen.models.cec import CEC, TargetRefresh, cec_loss, init_centroids, predict_q
from popcen.models.seqcae import SeqCAE, sample_bytes
from popcen.representation import encode, training_settings, wide_layer_optimizer
from popcen.training import FitOptions, FitResult, fit, seed_everything, split_indices

log = logging.getLogger("popcen")


@dataclass
class CECOutcome:
    model: CEC
    result: FitResult
    q: np.ndarray  # (n, K) soft assignments of every sample
    labels: np.ndarray  # (n,) hard assignments = argmax q
    init_labels: np.ndarray  # the clustering of the CAE latent space the centroids started from
    latent: np.ndarray  # (n, latent_dim) latent features after CEC training

    @property
    def train_loss(self) -> float:
        return float(self.result.history[-1]["train_loss"])

    @property
    def val_loss(self) -> float:
        return float(self.result.history[-1]["val_loss"])


def train_cec(
    cae: CAE | SeqCAE,
    images: np.ndarray,
    n_clusters: int,
    settings: dict,
    clustering: dict,
    *,
    device: str = "auto",
    stratify=None,
    checkpoint_dir: str | Path | None = None,
    loss_tsv: str | Path | None = None,
    progress: bool = True,
) -> CECOutcome:
    """Deep embedded clustering of the images into ``n_clusters`` clusters, starting from ``cae``.

    Parameters
    ----------
    cae : trained CAE (copied, not modified): an image CAE, or a sequence CAE
        (:class:`popcen.models.seqcae.SeqCAE`)
    images : the CAE's input: (n, 1, S, S) float32 images, or a :class:`popcen.batches.GenotypeData` for
        a sequence CAE (read in mini-batches)
    settings : training settings: keys of :class:`popcen.training.FitOptions` (the ``training`` section)
    clustering : sigma, alpha, kernel, update_interval, tol, kmeans_n_init, init,
        freeze_batchnorm
    """
    # The target P moves (sharpens) at every refresh, so the loss is not comparable between epochs and
    # early stopping on it would stop for the wrong reason: training ends on tol or max_epochs and keeps
    # the last weights; the validation loss is still recorded (it gives G in the K sweep).
    options = FitOptions.from_settings(
        settings,
        patience=None,
        restore_best=False,
        device=device,
        checkpoint_dir=checkpoint_dir,
        loss_tsv=loss_tsv,
        progress=progress,
        desc=f"CEC K={n_clusters}",
    )
    if isinstance(cae, SeqCAE):  # whole-genome activations: micro-batches where a batch won't fit
        options = replace(options, sample_bytes=sample_bytes(cae.config))
    seed = options.seed
    seed_everything(seed)
    n = len(images)
    latent0 = encode(cae, images, device=device)
    model = CEC(
        copy.deepcopy(cae),
        n_clusters,
        alpha=clustering["alpha"],
        freeze_batchnorm=clustering["freeze_batchnorm"],
        kernel=clustering["kernel"],
    )
    init_labels = init_centroids(
        model, latent0, seed=seed, n_init=clustering["kmeans_n_init"], method=clustering["init"]
    )

    train_idx, val_idx = split_indices(n, options.val_fraction, seed, stratify=stratify)
    bs = options.batch_size
    train = sample_loader(images, train_idx, batch_size=bs, shuffle=True, seed=seed, with_index=True)
    val = sample_loader(images, val_idx, batch_size=bs, with_index=True) if len(val_idx) else None
    everything = sample_loader(images, batch_size=inference_batch(cae, images), with_index=True)
    refresh = TargetRefresh(everything, clustering["update_interval"], clustering["tol"])
    sigma = clustering["sigma"]

    def loss_fn(model, batch):
        x, idx = batch
        return cec_loss(model, x, refresh.p[idx], sigma)

    result = fit(
        model,
        train,
        val,
        loss_fn,
        options,
        optimizer=wide_layer_optimizer(model, options),
        callbacks=[refresh],
        fingerprint={
            "k": n_clusters,
            "n": n,
            "clustering": clustering,
            "batch_size": bs,
            "val_fraction": options.val_fraction,
        },
    )
    q = predict_q(model, everything, device=device)
    latent = encode(model.cae, images, device=device)
    model.cpu()
    return CECOutcome(model, result, q, q.argmax(axis=1), init_labels, latent)


# CEC's two starting points, each a set of keys measured together on 1000 Genomes (benchmarks/RESULTS.md,
# ## clustering): "dec" is DEC as published (k-means centroids, an isotropic Student t with one degree of
# freedom) with a step that improves on that start; "mixture" starts from a full-covariance Gaussian mixture
# and keeps it (a Student t close to that Gaussian, a slow step).
PRESETS = {
    "dec": {"init": "kmeans", "kernel": "isotropic", "alpha": 1.0, "lr": 1e-4},
    "mixture": {"init": "gmm", "kernel": "full", "alpha": 5.0, "lr": 3e-5},
}


def choose_preset(n_samples: int, k: int, latent_dim: int) -> tuple[str, str]:
    """``clustering.preset: auto``: the mixture where each of the K clusters has, on average, at least as
    many samples as a full covariance of the latent space has parameters, else DEC. A covariance fitted on
    fewer samples than it has parameters is singular, and its mixture start is a local optimum."""
    per_cluster = n_samples / k
    parameters = latent_dim * (latent_dim + 1) // 2
    relation = ">=" if per_cluster >= parameters else "<"
    reason = (
        f"{per_cluster:.0f} samples per cluster {relation} {parameters} parameters of a full "
        f"{latent_dim}-dimensional covariance"
    )
    return ("mixture" if per_cluster >= parameters else "dec"), reason


def level_sections(clustering: dict, level: str | None) -> dict:
    """The clustering keys of CEC at one label level: the section with ``clustering.levels[level]`` on top,
    its ``training`` keys merged over the section's (``level=None``: the section's own keys)."""
    override = dict(clustering.get("levels", {}).get(level, {})) if level is not None else {}
    stage_training = {**clustering.get("training", {}), **override.pop("training", {})}
    return {**clustering, **override, "training": stage_training}


def cec_sections(
    training: dict, clustering: dict, n_samples: int, k: int, latent_dim: int
) -> tuple[dict, dict]:
    """(training settings, clustering keys) of one CEC run: the preset's keys (``auto`` chosen by
    :func:`choose_preset`) fill init, kernel, alpha and the learning rate wherever the config leaves them
    unset, and the stage's ``training`` keys are merged over the top-level ``training`` section. The keys
    returned carry the preset and why it was chosen."""
    preset = clustering.get("preset", "auto")
    reason = "set in clustering.preset"
    if preset == "auto":
        preset, reason = choose_preset(n_samples, k, latent_dim)
    values = PRESETS[preset]
    stage_training = {"lr": values["lr"], **clustering.get("training", {})}
    keys = {
        **{key: values[key] for key in ("init", "kernel", "alpha")},
        **{key: value for key, value in clustering.items() if value is not None},
        "training": stage_training,
        "preset": preset,
        "preset_reason": reason,
    }
    return training_settings(training, stage_training), keys
