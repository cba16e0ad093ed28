"""Sequence CAE: a 1D convolutional autoencoder over every variant, in genome order, linear in their number.

The image CAE (:mod:`popcen.models.cae`) lays the variants out in a square and needs a cap on their number;
this one reads each sample's V variants as one sequence, so that every LD-pruned variant of a whole-genome
cohort fits (docs/representation.md has the memory figures for 2,504 × 4,000,000 on an 80 GB GPU).

Input: x (B, 1, V), alt count / 2 in [0, 1], a missing call = the variant's mean
(:func:`popcen.features.mean_impute` halved), variants in genome order.

Notation: s = ``patch`` (the stem's kernel = stride), D = ``len(channels) - 1`` strided blocks after the
stem, Vp = s·2^D·ceil(V / (s·2^D)) (V padded with zeros to a length every stride divides),
L_0 = Vp / s, L_l = L_0 / 2^l, C_0 .. C_D the channels (``channels``), d = ``latent_dim``.

Encoder::

    x                                  (B, 1, V)
    zero-pad on the right              (B, 1, Vp)          Vp - V < s·2^D
    stem: Conv1d(1, C_0, s, stride s)  (B, C_0, L_0)       a patch embedding of s consecutive variants
          + BatchNorm + ReLU
    block l = 1..D: Conv1d(C_l-1, C_l, 4, stride 2, padding 1) + BatchNorm + ReLU
                                       (B, C_l, L_l)
    flatten + dropout                  (B, C_D·L_D)
    dense                              (B, d)              (+ BatchNorm without affine unless pca_init)

Decoder (the mirror)::

    dense + ReLU                       (B, C_D·L_D) -> (B, C_D, L_D)
    block l = D..1: ConvTranspose1d(C_l, C_l-1, 4, stride 2, padding 1) + BatchNorm + ReLU
                                       (B, C_l-1, L_l-1)
    output: ConvTranspose1d(C_0, 1, s, stride s)
                                       (B, 1, Vp)
    crop to the real variants          (B, 1, V)
    + one learnable bias per variant   (B, 1, V)           then a sigmoid (values in [0, 1])

The depth follows V (:func:`architecture`): strided blocks are added while the map is longer than
``max_length``, up to ``max_depth`` blocks in all (stem included). With the length bounded, the dense
layers have a size independent of V and the convolutions cost O(V) (each block halves the length); when
``max_depth`` stops the halving first, the dense layers grow as C_D·L_D·d, still linear in V. Parameters:
O(s·C_0 + Σ C_l² + C_D·L_D·d + V) (the per-variant bias), activations per sample O(C_0·V/s) for the stem
and at most as much again for each block (C_l·L_l <= C_0·L_0 while channels at most double per halving).

``pca_init`` (as in the image CAE): a linear path beside the convolutions, started at PCA: the latent is
z = A·x + b + conv_path(x) and the reconstruction x̂ = mean + Aᵀ·z + conv_decoder(z), without the sigmoid.
:meth:`SeqCAE.init_pca` takes the mean (V,) and the top d principal axes (d, V) of the training samples,
computed by whoever holds them (:func:`pca_axes` in memory, a blocked randomised PCA on a Zarr store);
A is d·V parameters, linear in V.

The reconstruction loss is :func:`popcen.models.cae.reconstruction_loss` over the V real positions: the
padding never reaches the loss, the decoder's output is cropped to V before it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from popcen.models.cae import reconstruction_loss

ARCHITECTURE = "sequence"  # the value of representation.architecture, saved in the config JSON
BLOCK_MODULES = 3  # modules per encoder block: conv, batch-norm, ReLU


@dataclass
class SeqCAEConfig:
    """Everything needed to rebuild a sequence CAE (saved as JSON beside the weights)."""

    n_variants: int  # V
    latent_dim: int = 10
    patch: int = 8  # s: the stem's kernel and stride
    channels: tuple[int, ...] = (16,)  # C_0 (stem) .. C_D
    dropout: float = 0.0  # on the flattened encoder output, before the latent layer
    pca_init: bool = False  # linear PCA-initialised path beside the convolutions (module docstring)
    architecture: str = ARCHITECTURE  # tells a saved sequence CAE from an image one

    @property
    def n_pixels(self) -> int:
        """The real input positions (V), under the name the image CAE's users (CEC's loss) read."""
        return self.n_variants

    @property
    def depth(self) -> int:
        """D: strided blocks after the stem."""
        return len(self.channels) - 1

    @property
    def padded_length(self) -> int:
        """Vp: V rounded up to a multiple of s·2^D."""
        unit = self.patch * 2**self.depth
        return unit * math.ceil(self.n_variants / unit)

    def lengths(self) -> list[int]:
        """L_0 .. L_D: the map's length after the stem and after each strided block."""
        return [self.padded_length // self.patch // 2**level for level in range(self.depth + 1)]

    @property
    def widest_map(self) -> int:
        """Floats per sample of the largest activation of a forward pass: the stem's map C_0·L_0 (4 per
        variant by default: 4 M floats at 1 M variants), a block's or the input. Inference batches are sized
        by it (:func:`popcen.batches.infer_batch_size`): sized by the input alone, 256 samples at 250 k
        variants made 1 GB activations, the peak of train_cae and train_cec."""
        maps = [c * length for c, length in zip(self.channels, self.lengths(), strict=True)]
        return max(self.padded_length, *maps)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SeqCAEConfig:
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        if d.get("architecture", ARCHITECTURE) != ARCHITECTURE:
            raise ValueError(f"not a sequence CAE config (architecture {d['architecture']!r})")
        return cls(**d)


def architecture(
    n_variants: int,
    latent_dim: int,
    patch: int = 8,
    base_channels: int = 16,
    max_channels: int = 64,
    max_depth: int = 4,
    max_length: int = 256,
    dropout: float = 0.0,
    pca_init: bool = False,
) -> SeqCAEConfig:
    """Derive the depth and widths from V.

    One strided block per halving while the map is longer than ``max_length`` (L_0 = ceil(V / s)), at
    most ``max_depth`` blocks in all counting the stem; channels ``base_channels · 2^level`` capped at
    ``max_channels``.

    Parameters
    ----------
    n_variants : V, at least 1
    latent_dim : d
    patch : s, variants per stem position (kernel = stride of the stem)
    base_channels, max_channels : C_0 and the cap on C_l
    max_depth : at most this many conv blocks (the stem and D strided blocks: D <= max_depth - 1)
    max_length : bound on L_D that the strided blocks aim for

    Returns
    -------
    SeqCAEConfig
    """
    if n_variants < 1:
        raise ValueError("a sequence CAE needs at least one variant")
    if patch < 1 or max_depth < 1 or max_length < 1:
        raise ValueError("patch, max_depth and max_length must be >= 1")
    depth, length = 0, math.ceil(n_variants / patch)
    while depth < max_depth - 1 and length > max_length:
        length = math.ceil(length / 2)
        depth += 1
    channels = tuple(min(base_channels * 2**level, max_channels) for level in range(depth + 1))
    return SeqCAEConfig(
        n_variants=n_variants,
        latent_dim=latent_dim,
        patch=patch,
        channels=channels,
        dropout=dropout,
        pca_init=pca_init,
    )


def as_sequence(x: torch.Tensor, n_variants: int) -> torch.Tensor:
    """(B, 1, V) as is; a zero-padded genotype image (B, 1, S, S) with S² >= V is read row by row (its first
    V pixels are the variants in genome order), so that code that lays a cohort out as images still works."""
    v = n_variants
    if x.dim() == 3 and x.shape[1:] == (1, v):
        return x
    if x.dim() == 4 and x.shape[1] == 1 and x.shape[2] * x.shape[3] >= v:
        return x.flatten(1)[:, :v].unsqueeze(1)
    raise ValueError(f"a sequence CAE of {v} variants takes (B, 1, {v}), not {tuple(x.shape)}")


class SeqCAE(nn.Module):
    """Sequence autoencoder; ``forward`` returns (latent (B, d), reconstruction (B, 1, V))."""

    def __init__(self, config: SeqCAEConfig):
        super().__init__()
        self.config = config
        ch, s, d = config.channels, config.patch, config.latent_dim
        lengths = config.lengths()
        flat = ch[-1] * lengths[-1]  # C_D·L_D

        blocks = [
            nn.Conv1d(1, ch[0], s, stride=s),  # (B, 1, Vp) -> (B, C_0, L_0)
            nn.BatchNorm1d(ch[0]),
            nn.ReLU(inplace=True),
        ]
        for level in range(1, len(ch)):
            blocks += [
                nn.Conv1d(ch[level - 1], ch[level], 4, stride=2, padding=1),  # -> (B, C_l, L_l)
                nn.BatchNorm1d(ch[level]),
                nn.ReLU(inplace=True),
            ]
        self.encoder_conv = nn.Sequential(*blocks)
        dense = [
            nn.Flatten(),  # (B, C_D, L_D) -> (B, C_D·L_D)
            nn.Dropout(config.dropout),
            nn.Linear(flat, d),  # -> (B, d)
        ]
        if not config.pca_init:
            # Unit-variance latent coordinates, as in the image CAE: CEC's Student-t kernel collapses on a
            # tiny latent scale. (With pca_init the scale is PCA's.)
            dense.append(nn.BatchNorm1d(d, affine=False))  # -> (B, d)
        self.encoder_dense = nn.Sequential(*dense)
        if config.pca_init:
            self.pca_encoder = nn.Linear(config.n_variants, d)  # (B, V) -> (B, d)
            self.pca_decoder = nn.Linear(d, config.n_variants, bias=False)  # (B, d) -> (B, V)

        self.decoder_dense = nn.Sequential(
            nn.Linear(d, flat),  # (B, d) -> (B, C_D·L_D)
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (ch[-1], lengths[-1])),  # -> (B, C_D, L_D)
        )
        up = []
        for level in range(len(ch) - 1, 0, -1):
            up += [
                nn.ConvTranspose1d(ch[level], ch[level - 1], 4, stride=2, padding=1),  # -> (B, C_l-1, L_l-1)
                nn.BatchNorm1d(ch[level - 1]),
                nn.ReLU(inplace=True),
            ]
        self.decoder_conv = nn.Sequential(*up)
        self.output = nn.ConvTranspose1d(ch[0], 1, s, stride=s)  # (B, C_0, L_0) -> (B, 1, Vp)
        # One bias per variant: the shared kernels cannot give each variant its own mean (as the image
        # CAE's per-pixel bias).
        self.variant_bias = nn.Parameter(torch.zeros(1, 1, config.n_variants))  # (1, 1, V)

    # ------------------------------------------------------------------------------------------- init
    @torch.no_grad()
    def init_pixel_bias(self, mean: torch.Tensor | np.ndarray, eps: float = 1e-3) -> None:
        """Start the per-variant bias at logit(mean of the training samples) (V,): the decoder then begins
        at the per-variant mean, the best constant reconstruction. (Name shared with the image CAE.)"""
        mean = torch.as_tensor(np.asarray(mean), dtype=torch.float32).reshape(self.variant_bias.shape)
        self.variant_bias.copy_(torch.logit(mean.clamp(eps, 1 - eps)))

    @torch.no_grad()
    def init_pca(self, mean: np.ndarray, axes: np.ndarray) -> None:
        """``pca_init`` only: the linear path at PCA, the conv path's last dense layer and the conv decoder's
        output at zero, so that encode() returns the PCA scores (x − mean)·axesᵀ and decode() PCA's
        reconstruction mean + z·axes.

        Parameters
        ----------
        mean : (V,) per-variant mean of the training samples (on the scale of the input, count / 2)
        axes : (k, V) top principal axes (orthonormal rows), k <= latent_dim; missing rows are zero
        """
        if not self.config.pca_init:
            raise ValueError("init_pca needs a sequence CAE built with pca_init=True")
        v, d = self.config.n_variants, self.config.latent_dim
        mean = np.asarray(mean, dtype=np.float64).reshape(v)
        axes = np.asarray(axes, dtype=np.float64).reshape(-1, v)
        if len(axes) > d:
            raise ValueError(f"{len(axes)} principal axes for a latent of {d}")
        full = np.zeros((d, v))
        full[: len(axes)] = axes
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        self.pca_encoder.weight.copy_(as_t(full))
        self.pca_encoder.bias.copy_(as_t(-(full @ mean)))
        self.pca_decoder.weight.copy_(as_t(full.T))
        self.variant_bias.copy_(as_t(mean).reshape(self.variant_bias.shape))
        last = self.encoder_dense[2]
        for layer in (last, self.output):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    # ---------------------------------------------------------------------------------------- forward
    def as_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, V): see :func:`as_sequence`."""
        return as_sequence(x, self.config.n_variants)

    def stem_input(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, V) -> zero-padded (B, 1, Vp), the length every stride divides."""
        x = self.as_sequence(x)
        return F.pad(x, (0, self.config.padded_length - self.config.n_variants))

    def blocks(self, n: int) -> nn.Sequential:
        """The first ``n`` conv blocks of the encoder (1 = the stem), e.g. for a classifier's features:
        (B, 1, Vp) -> (B, C_n-1, L_n-1)."""
        if not 1 <= n <= len(self.config.channels):
            raise ValueError(f"the encoder has {len(self.config.channels)} blocks, not {n}")
        return self.encoder_conv[: BLOCK_MODULES * n]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, V) -> (B, d)"""
        x = self.as_sequence(x)
        z = self.encoder_dense(self.encoder_conv(self.stem_input(x)))
        if self.config.pca_init:
            z = z + self.pca_encoder(x.flatten(1))
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, d) -> (B, 1, V)"""
        y = self.output(self.decoder_conv(self.decoder_dense(z)))  # (B, 1, Vp)
        y = y[:, :, : self.config.n_variants] + self.variant_bias  # the padding is cropped here
        if self.config.pca_init:  # linear, as PCA's reconstruction
            return y + self.pca_decoder(z).unsqueeze(1)
        return torch.sigmoid(y)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)


def seqcae_loss(model: SeqCAE, batch) -> torch.Tensor:
    """Loss for :func:`popcen.training.fit`: batch = (x,) or (x, ...), x (B, 1, V); MSE over the variants."""
    x = model.as_sequence(batch[0])
    _, x_hat = model(x)
    return reconstruction_loss(x, x_hat, model.config.n_variants)


def pca_axes(x: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean (V,) and top ``k`` principal axes (min(k, n, V), V) of in-memory samples x (n, V) or (n, 1, V).

    Exact SVD of the centred matrix when it is small, else sklearn's randomised SVD (the axes agree to
    rounding for the top components of structured data); for a cohort too large to hold as floats, compute
    them with a blocked randomised PCA on the Zarr store and pass them to :meth:`SeqCAE.init_pca`.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    mean = x.mean(axis=0)
    centred = x - mean
    k = min(k, *centred.shape)
    if centred.size <= 25_000_000:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
    else:
        from sklearn.utils.extmath import randomized_svd

        _, _, vt = randomized_svd(centred, k, n_iter=7, random_state=seed)
    return mean, vt[:k]


def footprint(config: SeqCAEConfig, batch_size: int) -> dict:
    """Sizes of a training step, counted on PyTorch's meta device (shapes only, nothing allocated).

    Returns
    -------
    dict: ``parameters`` (count), ``activations_per_sample`` (floats: the outputs of every module of one
    forward pass plus the input and reconstruction; the tensors autograd keeps are a subset of these, so
    this bounds them from above up to the loss's few V-long temporaries), and ``train_bytes_fp32``: input
    batch + activations + parameters with their gradient and two Adam moments, in float32
    """
    with torch.device("meta"):
        model = SeqCAE(config)
        x = torch.empty(batch_size, 1, config.n_variants)
    outputs = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: outputs.append(out.numel()))
        for m in model.modules()
        if not list(m.children())  # leaves only: containers repeat their children's outputs
    ]
    model(x)
    for h in hooks:
        h.remove()
    n_params = sum(p.numel() for p in model.parameters())
    per_sample = (sum(outputs) + 2 * x.numel()) / batch_size
    return {
        "parameters": n_params,
        "activations_per_sample": per_sample,
        "train_bytes_fp32": 4 * (per_sample * batch_size + 4 * n_params),
    }


def sample_bytes(config: SeqCAEConfig) -> float:
    """Bytes of float32 activations one training sample keeps (:func:`footprint`'s outputs of every module,
    an upper bound): ``FitOptions.sample_bytes``, which splits a batch that would not fit into micro-batches
    (~0.5 GB per sample at 1 M variants with patch 2)."""
    return 4.0 * footprint(config, 2)["activations_per_sample"]
