"""A small PyTorch MLP on k-mer frequencies, trained through the project's one loop (:func:`popcen.training.fit`)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from popcen.training import FitOptions, fit, infer, make_loader, seed_everything, split_indices


class KmerMLP(nn.Module):
    """(batch, n_kmers) standardized frequencies -> Linear/ReLU/Dropout blocks -> (batch, 2) logits."""

    def __init__(self, n_features: int, hidden: list[int], dropout: float):
        super().__init__()
        layers, width = [], n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]  # (batch, h)
            width = h
        layers.append(nn.Linear(width, 2))  # (batch, 2)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def standardized_frequencies(X: sp.csr_matrix, mean: np.ndarray | None = None, sd: np.ndarray | None = None):
    """Dense float32 k-mer frequencies (row sums 1), centred and scaled with the training rows' mean/sd."""
    totals = np.maximum(np.asarray(X.sum(axis=1)).ravel(), 1).astype(np.float32)
    F = X.toarray().astype(np.float32) / totals[:, None]
    if mean is None:
        mean, sd = F.mean(axis=0), F.std(axis=0)
        sd[sd == 0] = 1.0
    return (F - mean) / sd, mean, sd


def _loss(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def train_mlp(
    X: sp.csr_matrix,
    y: np.ndarray,
    train: np.ndarray,
    cfg: dict,
    seed: int,
    device: str,
    checkpoint_dir,
    loss_tsv,
):
    """Train on the ``train`` rows (a stratified tenth held for early stopping).

    Returns
    -------
    (model, scaler, result): the model with its best weights, the (mean, sd) used for scaling, FitResult.
    """
    F, mean, sd = standardized_frequencies(X[train])
    fit_idx, val_idx = split_indices(len(train), cfg["val_fraction"], seed, stratify=y[train])
    seed_everything(seed)
    model = KmerMLP(X.shape[1], list(cfg["hidden"]), cfg["dropout"])
    options = FitOptions(
        optimizer="adam",
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        batch_size=cfg["batch_size"],
        val_fraction=cfg["val_fraction"],
        max_epochs=cfg["epochs"],
        patience=cfg["patience"],
        seed=seed,
        device=device,
        checkpoint_dir=checkpoint_dir,
        loss_tsv=loss_tsv,
        desc="introgression MLP",
    )
    result = fit(
        model,
        make_loader(F[fit_idx], y[train][fit_idx], batch_size=options.batch_size, shuffle=True, seed=seed),
        make_loader(F[val_idx], y[train][val_idx], batch_size=1024) if len(val_idx) else None,
        _loss,
        options,
        fingerprint={"n": int(len(train)), "features": int(X.shape[1])},
    )
    return model, (mean, sd), result


def mlp_scores(model: KmerMLP, X: sp.csr_matrix, scaler, device: str) -> np.ndarray:
    """P(introgressed) of each row."""
    F, _, _ = standardized_frequencies(X, *scaler)
    logits = infer(model, make_loader(F, batch_size=1024), lambda m, b: m(b[0]), device=device)
    return torch.softmax(torch.as_tensor(logits), dim=1)[:, 1].numpy()
