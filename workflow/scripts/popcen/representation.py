"""Train the CAE on a cohort's genotypes and extract the latent features of every sample.

Two layouts (``representation.architecture``, docs/representation.md): ``image``, the paper's genotype
images (:mod:`popcen.models.cae`, data: an (n, 1, S, S) float32 array), and ``sequence``, every variant in
genome order (:mod:`popcen.models.seqcae`, data: a :class:`popcen.batches.GenotypeData`, the int8 store read
in mini-batches). The functions here take either and dispatch on it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from popcen.batches import GenotypeData, inference_batch, pca_start, row_mean, sample_loader
from popcen.models import seqcae
from popcen.models.cae import CAE, CAEConfig, architecture, cae_loss
from popcen.training import (
    FitOptions,
    FitResult,
    fan_in_param_groups,
    fit,
    infer,
    make_optimizer,
    recalibrate_batchnorm,
    seed_everything,
    split_indices,
)

log = logging.getLogger("popcen")

ARCHITECTURES = ("image", "sequence")


def training_settings(shared: dict, override: dict | None = None) -> dict:
    """The shared ``training`` section with a stage's own ``training`` overrides on top (the
    :class:`popcen.training.FitOptions` fields of the ``training`` schema)."""
    settings = dict(shared)
    settings.update(override or {})
    return settings


def model_architecture(representation: dict) -> str:
    """``representation.architecture`` (``image`` when absent), checked."""
    name = representation.get("architecture", "image")
    if name not in ARCHITECTURES:
        raise ValueError(f"representation.architecture must be one of {ARCHITECTURES}, not {name!r}")
    return name


def build_model(data, n_pixels: int, representation: dict) -> CAE | seqcae.SeqCAE:
    """A CAE sized for the data: an image CAE for an image array, a sequence CAE for GenotypeData."""
    if model_architecture(representation) == "sequence":
        if not isinstance(data, GenotypeData):
            raise TypeError("a sequence CAE trains on GenotypeData (the int8 store), not on images")
        return seqcae.SeqCAE(
            seqcae.architecture(
                data.n_variants,
                latent_dim=representation["latent_dim"],
                patch=representation.get("patch", 8),
                base_channels=representation["base_channels"],
                max_channels=representation["max_channels"],
                max_depth=representation["max_depth"],
                max_length=representation.get("max_length", 256),
                dropout=representation["dropout"],
                pca_init=representation.get("pca_init", False),
            )
        )
    if isinstance(data, GenotypeData):
        raise TypeError("an image CAE trains on genotype images, not on GenotypeData")
    return CAE(
        architecture(
            side=data.shape[-1],
            n_pixels=n_pixels,
            latent_dim=representation["latent_dim"],
            base_channels=representation["base_channels"],
            max_channels=representation["max_channels"],
            max_depth=representation["max_depth"],
            dropout=representation["dropout"],
            pca_init=representation.get("pca_init", False),
        )
    )


def _describe(config) -> str:
    if isinstance(config, seqcae.SeqCAEConfig):
        return (
            f"sequence CAE: {config.n_variants} variants, patch {config.patch}, channels {config.channels}, "
            f"final length {config.lengths()[-1]}, latent {config.latent_dim}"
        )
    return f"CAE: image {config.side}×{config.side}, channels {config.channels}, latent {config.latent_dim}"


def _initialise(model, data, train_idx: np.ndarray, seed: int) -> None:
    """The PCA start (``pca_init``) or the per-variant bias at the training mean, from the training split."""
    if isinstance(model, seqcae.SeqCAE):
        if model.config.pca_init:  # streamed: blocked randomised PCA of the training rows of the store
            mean, axes = pca_start(data.alt_count, train_idx, model.config.latent_dim, data.means, seed)
            model.init_pca(mean, axes)
        else:
            model.init_pixel_bias(row_mean(data.alt_count, train_idx, data.means))
    elif model.config.pca_init:  # the PCA of the training split only, as the rest of the fit
        model.init_pca(data[train_idx])
    else:
        model.init_pixel_bias(torch.as_tensor(data[train_idx].mean(axis=0)))


def _loss(model):
    return seqcae.seqcae_loss if isinstance(model, seqcae.SeqCAE) else cae_loss


def train_cae(
    images,
    n_pixels: int,
    settings: dict,
    representation: dict,
    *,
    device: str = "auto",
    stratify=None,
    checkpoint_dir: str | Path | None = None,
    loss_tsv: str | Path | None = None,
    progress: bool = True,
) -> tuple[CAE | seqcae.SeqCAE, FitResult]:
    """Build a CAE sized for the data and train it on a train/validation split of the samples.

    Parameters
    ----------
    images : (n, 1, S, S) float32 genotype images (``architecture: image``), or a
        :class:`popcen.batches.GenotypeData` (``architecture: sequence``: read in mini-batches)
    n_pixels : real pixels per image (the variants); for GenotypeData its number of variants
    settings : training settings: keys of :class:`popcen.training.FitOptions` (the ``training`` section)
    representation : architecture, latent_dim, base_channels, max_channels, max_depth, dropout, pca_init
        (optional), and for a sequence CAE patch and max_length
    stratify : labels for a stratified validation split (optional)
    """
    options = FitOptions.from_settings(
        settings,
        device=device,
        checkpoint_dir=checkpoint_dir,
        loss_tsv=loss_tsv,
        progress=progress,
        desc="CAE",
    )
    seed = options.seed
    seed_everything(seed)
    model = build_model(images, n_pixels, representation)
    config = model.config
    if isinstance(model, seqcae.SeqCAE):  # whole-genome activations: micro-batches where a batch won't fit
        options = replace(options, sample_bytes=seqcae.sample_bytes(config))
    log.info("%s", _describe(config))
    train_idx, val_idx = split_indices(len(images), options.val_fraction, seed, stratify=stratify)
    _initialise(model, images, train_idx, seed)
    bs = options.batch_size
    train = sample_loader(images, train_idx, batch_size=bs, shuffle=True, seed=seed)
    val = sample_loader(images, val_idx, batch_size=bs) if len(val_idx) else None
    result = fit(
        model,
        train,
        val,
        _loss(model),
        options,
        optimizer=wide_layer_optimizer(model, options),
        fingerprint={
            "config": config.to_dict(),
            "n": len(images),
            "batch_size": bs,
            "val_fraction": options.val_fraction,
        },
    )
    # Early stopping may restore weights whose batch-norm statistics saw a few batches only: recompute them
    # on all training samples so that eval-mode latent features have the scale the layers were trained at.
    # Shuffled, as in training: cohorts list their samples grouped by population, and the average variance
    # of batches in file order is the within-population variance, far below the variance the layers
    # were trained to standardise (eval-mode latent features then came out inflated and CEC drifted).
    recalibrate_batchnorm(
        model, sample_loader(images, train_idx, batch_size=bs, shuffle=True, seed=seed), device=device
    )
    return model.cpu(), result


def wide_layer_optimizer(model, options: FitOptions):
    """The optimiser ``options`` name over ``model``, its layers of more than :data:`WIDE_FAN_IN` inputs (the
    PCA path, over every variant) at a learning rate scaled down by their width
    (:func:`popcen.training.fan_in_param_groups`): the CAE's and CEC's."""
    groups = fan_in_param_groups(model, options.lr)
    return make_optimizer(groups, options.optimizer, options.lr, options.weight_decay)


def encode(model, images, batch_size: int | None = None, device: str = "auto") -> np.ndarray:
    """Latent features (n, latent_dim) of every sample of the data (images or GenotypeData), in eval mode;
    batches sized to the model's widest activation unless given."""
    loader = sample_loader(images, batch_size=batch_size or inference_batch(model, images))
    latent = infer(model, loader, lambda m, batch: m.encode(batch[0]), device=device)
    model.cpu()
    return latent


def save_cae(model, weights: str | Path, config_json: str | Path, extra: dict | None = None) -> None:
    """State dict + a JSON of the hyper-parameters (no pickled classes)."""
    torch.save(model.state_dict(), weights)
    Path(config_json).write_text(
        json.dumps({"cae": model.config.to_dict(), **(extra or {})}, indent=2) + "\n"
    )


def cae_from_config(config: dict):
    """An untrained CAE of either layout from its saved hyper-parameters (the ``cae`` entry of the JSON)."""
    if config.get("architecture", "image") == seqcae.ARCHITECTURE:
        return seqcae.SeqCAE(seqcae.SeqCAEConfig.from_dict(config))
    return CAE(CAEConfig.from_dict(config))


def load_cae(weights: str | Path, config_json: str | Path) -> tuple[CAE | seqcae.SeqCAE, dict]:
    meta = json.loads(Path(config_json).read_text())
    model = cae_from_config(meta["cae"])
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model, meta


def latent_table(sample_ids, latent: np.ndarray) -> pd.DataFrame:
    """The latent features of every sample as a table: ``sample``, then ``z1 .. z<latent_dim>``."""
    cols = {f"z{i + 1}": latent[:, i] for i in range(latent.shape[1])}
    return pd.DataFrame({"sample": np.asarray(sample_ids), **cols})
