"""Train the CAE on a cohort's genotype images and extract the latent features of every sample."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from popcen.models.cae import CAE, CAEConfig, architecture, cae_loss
from popcen.training import (
    FitOptions,
    FitResult,
    fit,
    infer,
    make_loader,
    recalibrate_batchnorm,
    seed_everything,
    split_indices,
)

log = logging.getLogger("popcen")


def training_settings(shared: dict, override: dict | None = None) -> dict:
    """The shared ``training`` section with a stage's own ``training`` overrides on top (the
    :class:`popcen.training.FitOptions` fields of the ``training`` schema)."""
    settings = dict(shared)
    settings.update(override or {})
    return settings


def train_cae(
    images: np.ndarray,
    n_pixels: int,
    settings: dict,
    representation: dict,
    *,
    device: str = "auto",
    stratify=None,
    checkpoint_dir: str | Path | None = None,
    loss_tsv: str | Path | None = None,
    progress: bool = True,
) -> tuple[CAE, FitResult]:
    """Build a CAE sized for the images and train it on a train/validation split of the samples.

    Parameters
    ----------
    images : (n, 1, S, S) float32 genotype images
    n_pixels : real pixels per image (the variants)
    settings : training settings: keys of :class:`popcen.training.FitOptions` (the ``training`` section)
    representation : latent_dim, base_channels, max_channels, max_depth, dropout, pca_init (optional)
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
    config = architecture(
        side=images.shape[-1],
        n_pixels=n_pixels,
        latent_dim=representation["latent_dim"],
        base_channels=representation["base_channels"],
        max_channels=representation["max_channels"],
        max_depth=representation["max_depth"],
        dropout=representation["dropout"],
        pca_init=representation.get("pca_init", False),
    )
    model = CAE(config)
    log.info(
        "CAE: image %d×%d, channels %s, latent %d",
        config.side,
        config.side,
        config.channels,
        config.latent_dim,
    )
    train_idx, val_idx = split_indices(len(images), options.val_fraction, seed, stratify=stratify)
    if config.pca_init:  # the PCA of the training split only, as the rest of the fit
        model.init_pca(images[train_idx])
    else:
        model.init_pixel_bias(torch.as_tensor(images[train_idx].mean(axis=0)))
    train = make_loader(images[train_idx], batch_size=options.batch_size, shuffle=True, seed=seed)
    val = make_loader(images[val_idx], batch_size=options.batch_size) if len(val_idx) else None
    result = fit(
        model,
        train,
        val,
        cae_loss,
        options,
        fingerprint={
            "config": config.to_dict(),
            "n": len(images),
            "batch_size": options.batch_size,
            "val_fraction": options.val_fraction,
        },
    )
    # Early stopping may restore weights whose batch-norm statistics saw a few batches only: recompute them
    # on all training samples so that eval-mode latent features have the scale the layers were trained at.
    # Shuffled, as in training: cohorts list their samples grouped by population, and the average variance
    # of batches in file order is the within-population variance, far below the variance the layers
    # were trained to standardise (eval-mode latent features then came out inflated and CEC drifted).
    recalibrate_batchnorm(
        model,
        make_loader(images[train_idx], batch_size=options.batch_size, shuffle=True, seed=seed),
        device=device,
    )
    return model.cpu(), result


def encode(model: CAE, images: np.ndarray, batch_size: int = 256, device: str = "auto") -> np.ndarray:
    """Latent features (n, latent_dim) of images, in eval mode."""
    loader = make_loader(images, batch_size=batch_size)
    latent = infer(model, loader, lambda m, batch: m.encode(batch[0]), device=device)
    model.cpu()
    return latent


def save_cae(model: CAE, weights: str | Path, config_json: str | Path, extra: dict | None = None) -> None:
    """State dict + a JSON of the hyper-parameters (no pickled classes)."""
    torch.save(model.state_dict(), weights)
    Path(config_json).write_text(
        json.dumps({"cae": model.config.to_dict(), **(extra or {})}, indent=2) + "\n"
    )


def load_cae(weights: str | Path, config_json: str | Path) -> tuple[CAE, dict]:
    meta = json.loads(Path(config_json).read_text())
    model = CAE(CAEConfig.from_dict(meta["cae"]))
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model, meta


def latent_table(sample_ids, latent: np.ndarray) -> pd.DataFrame:
    """The latent features of every sample as a table: ``sample``, then ``z1 .. z<latent_dim>``."""
    cols = {f"z{i + 1}": latent[:, i] for i in range(latent.shape[1])}
    return pd.DataFrame({"sample": np.asarray(sample_ids), **cols})
