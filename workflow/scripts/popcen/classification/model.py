"""The ancestry classifier: the CAE's encoder (frozen unless fine-tuned) with a small softmax head.

Shapes for a batch of B genotype images of side S (see :mod:`popcen.models.cae`)::

    x                    (B, 1, S, S)
    encoder              (B, F)        F = C_last·S_last² ("conv": the flattened last feature map, the
                                       paper's choice) or F = latent_dim ("latent": the CAE's code)
    + Gaussian noise     (B, F)        training only: std ``noise_std``
    dense + ReLU         (B, H)        H = ``hidden``
    dropout              (B, H)
    dense                (B, K)        K populations: logits; softmax in :meth:`predict_proba` and in
                                       the cross-entropy loss

A frozen encoder stays in eval mode while the head trains, so its batch-norm statistics are those the
CAE learnt, not those of the classifier's batches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from popcen.models.cae import CAE, CAEConfig

ENCODER_OUTPUTS = ("conv", "latent")


@dataclass
class ClassifierConfig:
    """Hyper-parameters of the head (saved as JSON beside the weights)."""

    n_classes: int
    encoder_output: str = "conv"
    hidden: int = 64
    noise_std: float = 0.1
    dropout: float = 0.5
    fine_tune: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class GaussianNoise(nn.Module):
    """Adds N(0, std²) noise in training mode; the identity in eval mode."""

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.std > 0:
            return x + torch.randn_like(x) * self.std
        return x


def encoder_width(cae_config: CAEConfig, encoder_output: str) -> int:
    """F: features the encoder hands to the head."""
    if encoder_output == "latent":
        return cae_config.latent_dim
    if encoder_output == "conv":
        cae = CAE(cae_config)
        return cae.config.channels[-1] * cae.sides[-1] ** 2
    raise ValueError(f"encoder_output must be one of {ENCODER_OUTPUTS}, not {encoder_output!r}")


class AncestryClassifier(nn.Module):
    """Encoder of a trained :class:`CAE` + noise/dense/dropout/softmax head; ``forward`` gives logits."""

    def __init__(self, cae: CAE, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.cae_config = cae.config
        self.encoder_conv = cae.encoder_conv
        # The CAE's dense code layer is only part of the encoder when the head reads the latent code.
        self.encoder_dense = cae.encoder_dense if config.encoder_output == "latent" else None
        width = encoder_width(cae.config, config.encoder_output)
        self.head = nn.Sequential(
            nn.Flatten(),  # (B, C_last, S_last, S_last) or (B, latent) -> (B, F)
            GaussianNoise(config.noise_std),  # (B, F)
            nn.Linear(width, config.hidden),  # -> (B, H)
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.n_classes),  # -> (B, K) logits
        )
        for p in self.encoder_parameters():
            p.requires_grad = config.fine_tune

    def encoder_parameters(self):
        yield from self.encoder_conv.parameters()
        if self.encoder_dense is not None:
            yield from self.encoder_dense.parameters()

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.config.fine_tune:
            self.encoder_conv.eval()
            if self.encoder_dense is not None:
                self.encoder_dense.eval()
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder_conv(x)  # (B, C_last, S_last, S_last)
        return self.encoder_dense(h) if self.encoder_dense is not None else h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self(x), dim=1)


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced class weights n / (K · n_k) (sklearn's "balanced"); a class absent from ``y`` gets 0."""
    counts = np.bincount(np.asarray(y), minlength=n_classes).astype(float)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def build_classifier(cae_config: dict | CAEConfig, cae_state: dict | None, config: ClassifierConfig) -> AncestryClassifier:
    """A classifier on a CAE rebuilt from its config and (optionally) its trained weights."""
    if isinstance(cae_config, dict):
        cae_config = CAEConfig.from_dict(cae_config)
    cae = CAE(cae_config)
    if cae_state is not None:
        cae.load_state_dict(cae_state)
    return AncestryClassifier(cae, config)
