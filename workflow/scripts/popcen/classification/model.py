"""The ancestry classifier: the CAE's encoder (frozen unless fine-tuned) with a small softmax head.

Shapes for a batch of B genotype images of side S (see :mod:`popcen.models.cae`)::

    x                    (B, 1, S, S)
    encoder              (B, F)        "conv": the flattened feature map after the encoder's first N conv
                                       blocks, F = C_N·S_N² (N = ``encoder_blocks``, 0 = all blocks: the
                                       paper's last feature map), or F = C_N·S_{N-1}² when the N-th
                                       block's max-pool is left out (``encoder_pool`` false);
                                       "latent": the CAE's code, F = latent_dim
    standardise          (B, F)        (f - mean) / std per feature, mean and std of the training
                                       samples' encoder features (``standardize``; buffers, saved)
    + Gaussian noise     (B, F)        training only: std ``noise_std``
    dense + ReLU         (B, H)        H = ``hidden``
    dropout              (B, H)
    dense                (B, K)        K populations: logits; softmax in :meth:`predict_proba` and in
                                       the cross-entropy loss
    (``hidden`` = 0: a linear head, noise -> dropout (B, F) -> dense (B, K))

Why ``encoder_blocks``: clustering wants a deep CAE (a small latent code), while the classifier separates
close populations best on the early feature maps (on 1000 Genomes a linear model on the first block's map
reached pop macro F1 0.775, on the fourth block's only 0.63-0.65). Tapping the first N blocks of the one CAE
the pipeline trains lets one CAE serve both stages. The max-pool of the last tapped block keeps one of
four neighbouring positions per channel; without it (``encoder_pool`` false) the head sees every variant's
neighbourhood, at 4x the features.

A frozen encoder stays in eval mode while the head trains, so its batch-norm statistics are those the
CAE learnt, not those of the classifier's batches.

Why standardise: the encoder's ReLU features are non-negative with scales that differ by orders of
magnitude between channels; fed raw to the dense layer, the head's validation loss stalled at 1.6-2.5 on
real 1000 Genomes data while a linear model on the same (standardised) features separated the populations.
The statistics are set once from the training samples (:meth:`AncestryClassifier.set_feature_scaling`)
and live in the state dict, so prediction applies exactly the training scaling.

On a sequence CAE (:mod:`popcen.models.seqcae`, ``representation.architecture: sequence``) the input is
x (B, 1, V) (a zero-padded genotype image of the same variants is read row by row), "latent" is its code
(F = latent_dim) and "conv" the map after its first N blocks (the stem is block 1): F = C_N-1·L_N-1, for the
stem C_0·Vp/s, about one feature per variant with the default C_0 = s = 8. Frozen features too wide to hold
for every sample (a whole-genome map) are computed batch by batch from the int8 store instead
(:mod:`popcen.classification.train`). ``encoder_pool`` does not apply: a strided block has no pool to leave
out.

With ``pca_init`` the CAE's code is the PCA path plus the conv path; "latent" reads both, as CEC does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from popcen.batches import GenotypeData
from popcen.errors import PopcenInputError
from popcen.features import read_variant_columns
from popcen.images import genotype_images
from popcen.models import seqcae
from popcen.models.cae import CAE, CAEConfig

ENCODER_OUTPUTS = ("conv", "latent")
# Version of the saved model (weights + JSON). Bumped when the network's layout changes, so that loading an
# older model fails with a clear message instead of a state-dict mismatch.
MODEL_FORMAT = 2
BLOCK_MODULES = 4  # modules per encoder block of popcen.models.cae.CAE: conv, batch-norm, ReLU, max-pool


@dataclass
class ClassifierConfig:
    """Hyper-parameters of the head (saved as JSON beside the weights)."""

    n_classes: int
    encoder_output: str = "conv"
    encoder_blocks: int = 1  # conv blocks the head reads (0 = all); "conv" only
    encoder_pool: bool = True  # apply the last tapped block's max-pool; "conv" only
    hidden: int = 64  # 0 = a linear head
    noise_std: float = 0.1
    dropout: float = 0.5
    fine_tune: bool = False
    standardize: bool = True

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


def used_blocks(
    cae_config: CAEConfig | seqcae.SeqCAEConfig, encoder_output: str, encoder_blocks: int = 0
) -> int:
    """N: conv blocks of the CAE's encoder the classifier runs (all of them for the latent code).

    ``encoder_blocks`` larger than the CAE's depth (which the image side, or V for a sequence CAE, decides)
    means all blocks.
    """
    depth = len(cae_config.channels)
    if encoder_output not in ENCODER_OUTPUTS:
        raise ValueError(f"encoder_output must be one of {ENCODER_OUTPUTS}, not {encoder_output!r}")
    if encoder_blocks < 0:
        raise ValueError(f"encoder_blocks must be >= 0 (0 = all), not {encoder_blocks}")
    if encoder_output == "latent":
        if 0 < encoder_blocks < depth:
            raise ValueError(
                f"encoder_output 'latent' reads the whole encoder ({depth} blocks); "
                f"encoder_blocks {encoder_blocks} needs encoder_output 'conv'"
            )
        return depth
    return depth if encoder_blocks == 0 else min(encoder_blocks, depth)


def encoder_width(
    cae_config: CAEConfig | seqcae.SeqCAEConfig,
    encoder_output: str,
    encoder_blocks: int = 0,
    pool: bool = True,
) -> int:
    """F: features the encoder hands to the head (``pool`` is for an image CAE only)."""
    n = used_blocks(cae_config, encoder_output, encoder_blocks)
    if encoder_output == "latent":
        return cae_config.latent_dim
    if isinstance(cae_config, seqcae.SeqCAEConfig):
        return cae_config.channels[n - 1] * cae_config.lengths()[n - 1]
    side = CAE(cae_config).sides[n if pool else n - 1]
    return cae_config.channels[n - 1] * side**2


class FeatureScaling(nn.Module):
    """(x - mean) / std per feature with fixed statistics (buffers: saved with the model, never trained).

    Starts as the identity; :meth:`fit` sets the statistics from a (n_samples, F) feature matrix.
    """

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))

    def fit(self, features: np.ndarray | torch.Tensor, eps: float = 1e-6) -> FeatureScaling:
        f = torch.as_tensor(np.asarray(features), dtype=torch.float64).flatten(1)
        return self.set(f.mean(0), f.std(0, unbiased=False), eps)

    @torch.no_grad()
    def set(self, mean, std, eps: float = 1e-6) -> FeatureScaling:
        """Statistics computed elsewhere (e.g. accumulated batch by batch): (F,) mean and std."""
        mean, std = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(std, dtype=torch.float64)
        self.mean.copy_(mean.to(self.mean.dtype))
        # A constant feature (std 0, e.g. a ReLU that never fires) is only centred, not blown up.
        self.std.copy_(torch.where(std > eps, std, torch.ones_like(std)).to(self.std.dtype))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class AncestryClassifier(nn.Module):
    """Encoder of a trained :class:`CAE` + noise/dense/dropout/softmax head; ``forward`` gives logits."""

    def __init__(self, cae: CAE | seqcae.SeqCAE, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.cae_config = cae.config
        latent = config.encoder_output == "latent"
        n_blocks = used_blocks(cae.config, config.encoder_output, config.encoder_blocks)
        # A sequence CAE reads (B, 1, V), zero-padded to Vp for its strides: (V, Vp), else None.
        self.sequence = None
        if isinstance(cae, seqcae.SeqCAE):
            self.sequence = (cae.config.n_variants, cae.config.padded_length)
            self.encoder_conv = cae.blocks(n_blocks)  # the first N blocks (1 = the stem)
        else:
            # The first N conv blocks, without the N-th block's max-pool when encoder_pool is false (conv
            # output only: the latent code reads the pooled map).
            pool = config.encoder_pool or latent
            self.encoder_conv = cae.encoder_conv[: BLOCK_MODULES * n_blocks - (0 if pool else 1)]
        # The CAE's dense code layer (and its PCA path) are only part of the encoder when the head reads the
        # latent code.
        self.encoder_dense = cae.encoder_dense if latent else None
        self.pca_encoder = cae.pca_encoder if latent and cae.config.pca_init else None
        width = encoder_width(cae.config, config.encoder_output, config.encoder_blocks, config.encoder_pool)
        self.width = width  # F, the features the head reads
        if config.hidden > 0:
            dense = [
                nn.Linear(width, config.hidden),  # (B, F) -> (B, H)
                nn.ReLU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden, config.n_classes),  # -> (B, K) logits
            ]
        else:  # linear head: softmax regression on the (standardised, noisy) features
            dense = [nn.Dropout(config.dropout), nn.Linear(width, config.n_classes)]  # (B, F) -> (B, K)
        self.head = nn.Sequential(
            nn.Flatten(),  # (B, C_N, S_N, S_N) or (B, latent) -> (B, F)
            FeatureScaling(width) if config.standardize else nn.Identity(),  # (B, F)
            GaussianNoise(config.noise_std),  # (B, F)
            *dense,
        )
        for p in self.encoder_parameters():
            p.requires_grad = config.fine_tune

    def set_feature_scaling(self, features: np.ndarray) -> None:
        """Standardise the head's input with the mean/std of ``features`` (n_samples, F): the encoder's
        output on the training samples. A no-op when ``standardize`` is off."""
        if isinstance(self.scaling, FeatureScaling):
            self.scaling.fit(features)

    @property
    def scaling(self) -> nn.Module:
        """The head's input standardisation (:class:`FeatureScaling`, or the identity)."""
        return self.head[1]

    def head_parameters(self):
        yield from self.head.parameters()

    def encoder_modules(self):
        yield self.encoder_conv
        for m in (self.encoder_dense, self.pca_encoder):
            if m is not None:
                yield m

    def encoder_parameters(self):
        for m in self.encoder_modules():
            yield from m.parameters()

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.config.fine_tune:
            for m in self.encoder_modules():
                m.eval()
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.sequence is not None:
            v, vp = self.sequence
            x = seqcae.as_sequence(x, v)  # (B, 1, V)
            h = self.encoder_conv(torch.nn.functional.pad(x, (0, vp - v)))  # (B, C_N-1, L_N-1)
        else:
            h = self.encoder_conv(x)  # (B, C_N, S_N, S_N), S_{N-1} without the last pool
        if self.encoder_dense is None:
            return h
        z = self.encoder_dense(h)  # (B, latent)
        if self.pca_encoder is not None:  # the CAE's linear PCA path, as in its own encode()
            z = z + self.pca_encoder(x.flatten(1))
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self(x), dim=1)


class ClassifierEnsemble(nn.Module):
    """Classifiers trained alike from different seeds (a deep ensemble): ``forward`` gives the log of the
    members' mean class probabilities, so its softmax (:meth:`predict_proba`, the loss-free paths) is that
    mean. Members that start from other random weights, inner splits, noise and batch orders make partly
    independent errors on close populations, which the average cancels."""

    def __init__(self, members: list[AncestryClassifier]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.config = members[0].config
        self.cae_config = members[0].cae_config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_p = torch.stack([torch.log_softmax(m(x), dim=1) for m in self.members])  # (M, B, K)
        return torch.logsumexp(log_p, dim=0) - math.log(len(self.members))  # (B, K) log mean probability

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


def build_classifier(
    cae_config: dict | CAEConfig | seqcae.SeqCAEConfig, cae_state: dict | None, config: ClassifierConfig
) -> AncestryClassifier:
    """A classifier on a CAE (image or sequence) rebuilt from its config and (optionally) its trained
    weights."""
    if isinstance(cae_config, dict):
        if cae_config.get("architecture", "image") == seqcae.ARCHITECTURE:
            cae_config = seqcae.SeqCAEConfig.from_dict(cae_config)
        else:
            cae_config = CAEConfig.from_dict(cae_config)
    cae = seqcae.SeqCAE(cae_config) if isinstance(cae_config, seqcae.SeqCAEConfig) else CAE(cae_config)
    if cae_state is not None:
        cae.load_state_dict(cae_state)
    return AncestryClassifier(cae, config)


def cae_images(alt_count, cae_meta: dict, cae_config: dict):
    """The classifier's input: a cohort's genotype images on the CAE's variants, in the CAE's layout; for a
    sequence CAE (``architecture: sequence``) a :class:`popcen.batches.GenotypeData` of those variants
    instead (int8, read in mini-batches: nothing wider is held).

    Parameters
    ----------
    alt_count : (samples, variants) int8 alt counts of the feature set the CAE was trained on, numpy or the
        Zarr store (only the CAE's variants are read from it)
    cae_meta : the CAE's JSON; ``variant_index`` lists the feature set's variants its images hold (all of
        them, in order, when absent)
    cae_config : the CAE's hyper-parameters (``side``, ``n_pixels``)

    Returns
    -------
    images (samples, 1, side, side) float32 or GenotypeData, variant_index (the rows of the variant table,
    image order)
    """
    index = np.asarray(cae_meta.get("variant_index", np.arange(alt_count.shape[1])), dtype=np.int64)
    if cae_config.get("architecture", "image") == seqcae.ARCHITECTURE:
        if len(index) != cae_config["n_variants"]:
            raise PopcenInputError(
                None,
                f"{len(index)} variants do not fit the sequence CAE ({cae_config['n_variants']}); "
                "re-run train_cae",
            )
        every = np.array_equal(index, np.arange(alt_count.shape[1]))
        return GenotypeData.of(alt_count if every else read_variant_columns(alt_count, index)), index
    images, _ = genotype_images(alt_count, variant_index=index)
    if images.shape[-1] != cae_config["side"] or len(index) != cae_config["n_pixels"]:
        raise PopcenInputError(
            None,
            f"images of {len(index)} variants (side {images.shape[-1]}) do not "
            f"fit the CAE ({cae_config['n_pixels']} pixels, side {cae_config['side']}); "
            "re-run train_cae",
        )
    return images, index
