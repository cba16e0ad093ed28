"""Convolutional autoencoder (CAE) of genotype images, after Karim et al.

Encoder: ``depth`` blocks of conv 3×3 + batch-norm + ReLU + max-pool 2×2, then a dense layer to the
latent vector (standardised by a batch-norm without affine parameters). Decoder: a dense layer back to the last feature map, then per level an upsampling to the
exact size the encoder saw there + a transposed conv 3×3 + batch-norm + ReLU, and a final transposed conv
to one channel plus a learnable bias per pixel, through a sigmoid (pixels are in [0, 1]). The reconstruction loss is the mean squared error
over the real pixels only (the zero padding of the square is not the sample's data).

``pca_init`` (option, ``representation.pca_init``): a linear path beside the convolutions, started at PCA.
The latent is z = A·x + b + conv_path(x) and the reconstruction x̂ = mean + Aᵀ·z + conv_decoder(z), without
the sigmoid; :meth:`CAE.init_pca` sets A to the top ``latent_dim`` principal axes of the training images
(b = −A·mean), the conv path's last dense layer and the conv decoder's output to zero, so that at step 0 the
latent is the PCA scores (not whitened: the conv path has no batch-norm at its end) and the reconstruction
is PCA's. Why: the plain CAE learns almost none of principal components 6–10, which tell the populations of
a continent apart, and with the PCA start it keeps them (benchmarks/RESULTS.md, ## clustering).

Depth and widths come from the image side (:func:`architecture`): one pooling level per halving while the
map stays at least 4 pixels wide (at most ``max_depth``), channels ``base_channels · 2^level`` capped at
``max_channels``. Shapes below are for a batch of B images of side S, with S_l the side after l poolings
(S_0 = S, S_{l+1} = floor(S_l / 2)) and C_l the channels of level l.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class CAEConfig:
    """Everything needed to rebuild a CAE (saved as JSON beside the weights)."""

    side: int  # image side S
    n_pixels: int  # real pixels (= variants) before the zero padding
    latent_dim: int = 10
    channels: tuple[int, ...] = (16, 32, 64)  # C_1 .. C_depth
    dropout: float = 0.0  # on the flattened encoder output, before the latent layer
    pca_init: bool = False  # linear PCA-initialised path beside the convolutions (module docstring)

    @property
    def widest_map(self) -> int:
        """Floats per sample of the largest activation of a forward pass: the first block's map C_1·S²
        (inference batches are sized by it, :func:`popcen.batches.infer_batch_size`)."""
        return max(self.side**2, self.channels[0] * self.side**2)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CAEConfig:
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        return cls(**d)


def architecture(
    side: int,
    n_pixels: int,
    latent_dim: int,
    base_channels: int = 16,
    max_channels: int = 128,
    max_depth: int = 4,
    dropout: float = 0.0,
    pca_init: bool = False,
) -> CAEConfig:
    """Derive depth and widths from the image side.

    One level per halving that keeps the feature map at least 4 pixels wide (66 -> 33 -> 16 -> 8 -> 4: 4
    levels), at least one level, at most ``max_depth``.
    """
    depth, s = 0, side
    while depth < max_depth and s // 2 >= 4:
        s //= 2
        depth += 1
    depth = max(depth, 1)
    channels = tuple(min(base_channels * 2**level, max_channels) for level in range(depth))
    return CAEConfig(
        side=side,
        n_pixels=n_pixels,
        latent_dim=latent_dim,
        channels=channels,
        dropout=dropout,
        pca_init=pca_init,
    )


def _sides(side: int, depth: int) -> list[int]:
    sides = [side]
    for _ in range(depth):
        sides.append(max(sides[-1] // 2, 1))
    return sides


class CAE(nn.Module):
    """Convolutional autoencoder; ``forward`` returns (latent, reconstruction)."""

    def __init__(self, config: CAEConfig):
        super().__init__()
        self.config = config
        ch = (1, *config.channels)
        depth = len(config.channels)
        self.sides = _sides(config.side, depth)  # S_0 .. S_depth
        s_last, c_last = self.sides[-1], ch[-1]

        blocks = []
        for level in range(depth):
            blocks += [
                nn.Conv2d(
                    ch[level], ch[level + 1], 3, padding=1
                ),  # (B, C_l, S_l, S_l) -> (B, C_l+1, S_l, S_l)
                nn.BatchNorm2d(ch[level + 1]),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),  # -> (B, C_l+1, S_l+1, S_l+1)
            ]
        self.encoder_conv = nn.Sequential(*blocks)
        dense = [
            nn.Flatten(),  # (B, C_last, S_last, S_last) -> (B, C_last·S_last²)
            nn.Dropout(config.dropout),
            nn.Linear(c_last * s_last * s_last, config.latent_dim),  # -> (B, latent)
        ]
        if not config.pca_init:
            # Unit-variance latent coordinates: an autoencoder's latent scale is arbitrary, and CEC's
            # Student-t kernel (1 + ||z - mu||^2)^-1 is near uniform, and collapses, on a tiny scale.
            # (With pca_init the scale is PCA's, and a batch-norm would jump from 0 once the path moves.)
            dense.append(nn.BatchNorm1d(config.latent_dim, affine=False))  # -> (B, latent)
        self.encoder_dense = nn.Sequential(*dense)
        if config.pca_init:
            n_flat = config.side * config.side
            self.pca_encoder = nn.Linear(n_flat, config.latent_dim)  # (B, S²) -> (B, latent)
            self.pca_decoder = nn.Linear(config.latent_dim, n_flat, bias=False)  # (B, latent) -> (B, S²)

        self.decoder_dense = nn.Sequential(
            nn.Linear(config.latent_dim, c_last * s_last * s_last),  # (B, latent) -> (B, C_last·S_last²)
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (c_last, s_last, s_last)),  # -> (B, C_last, S_last, S_last)
        )
        up = []
        for level in range(depth, 0, -1):
            out_ch = ch[level - 1] if level > 1 else ch[1]
            up += [
                nn.Upsample(size=(self.sides[level - 1],) * 2, mode="nearest"),  # -> (B, C_l, S_l-1, S_l-1)
                nn.ConvTranspose2d(ch[level], out_ch, 3, padding=1),  # -> (B, C_l-1, S_l-1, S_l-1)
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
            ]
        self.decoder_conv = nn.Sequential(*up)
        self.output = nn.ConvTranspose2d(ch[1], 1, 3, padding=1)  # (B, C_1, S, S) -> (B, 1, S, S)
        # One learnable bias per pixel (i.e. per variant): the decoder's shared kernels cannot give each
        # variant its own mean, and spending the latent code on the means would leave less for ancestry.
        self.pixel_bias = nn.Parameter(torch.zeros(1, 1, config.side, config.side))  # (1, 1, S, S)

    @torch.no_grad()
    def init_pixel_bias(self, mean_image: torch.Tensor, eps: float = 1e-3) -> None:
        """Start the per-pixel bias at logit(mean image of the training samples): the decoder then begins
        at the per-variant mean, the best constant reconstruction, and learns deviations from it."""
        mean_image = torch.as_tensor(mean_image, dtype=torch.float32).reshape(self.pixel_bias.shape)
        self.pixel_bias.copy_(torch.logit(mean_image.clamp(eps, 1 - eps)))

    @torch.no_grad()
    def init_pca(self, train_images) -> None:
        """``pca_init`` only: start the linear path at the PCA of ``train_images`` (n, 1, S, S) over the real
        pixels (top ``latent_dim`` axes by SVD of the centred images), the per-pixel bias at their mean, and
        the conv path's last dense layer and the conv decoder's output at zero: encode() then returns the PCA
        scores and decode() PCA's reconstruction."""
        if not self.config.pca_init:
            raise ValueError("init_pca needs a CAE built with pca_init=True")
        side, n_pix, d = self.config.side, self.config.n_pixels, self.config.latent_dim
        flat = np.asarray(train_images, dtype=np.float64).reshape(len(train_images), side * side)
        if len(flat) < d:
            raise ValueError(f"pca_init needs at least latent_dim={d} training images, got {len(flat)}")
        mean = flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat[:, :n_pix] - mean[:n_pix], full_matrices=False)
        axes = np.zeros((d, side * side))
        axes[: min(d, len(vt)), :n_pix] = vt[:d]
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        self.pca_encoder.weight.copy_(as_t(axes))
        self.pca_encoder.bias.copy_(as_t(-(axes @ mean)))
        self.pca_decoder.weight.copy_(as_t(axes.T))
        self.pixel_bias.copy_(as_t(mean).reshape(self.pixel_bias.shape))
        last = self.encoder_dense[2]
        for layer in (last, self.output):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) -> (B, latent)"""
        z = self.encoder_dense(self.encoder_conv(x))
        if self.config.pca_init:
            z = z + self.pca_encoder(x.flatten(1))
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent) -> (B, 1, S, S)"""
        y = self.output(self.decoder_conv(self.decoder_dense(z))) + self.pixel_bias
        if self.config.pca_init:  # linear, as PCA's reconstruction
            return y + self.pca_decoder(z).reshape(-1, 1, self.config.side, self.config.side)
        return torch.sigmoid(y)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor, n_pixels: int) -> torch.Tensor:
    """Mean squared error over the first ``n_pixels`` pixels of each image (the padding is left out)."""
    b = x.shape[0]
    diff = (x_hat.reshape(b, -1)[:, :n_pixels].float() - x.reshape(b, -1)[:, :n_pixels].float()) ** 2
    return diff.mean()


def cae_loss(model: CAE, batch) -> torch.Tensor:
    """Loss for :func:`popcen.training.fit`: batch = (images,) or (images, ...)."""
    x = batch[0]
    _, x_hat = model(x)
    return reconstruction_loss(x, x_hat, model.config.n_pixels)
