"""Convolutional autoencoder (CAE) of genotype images, after Karim et al.

Encoder: ``depth`` blocks of conv 3×3 + batch-norm + ReLU + max-pool 2×2, then a dense layer to the
latent vector (standardised by a batch-norm without affine parameters). Decoder: a dense layer back to the last feature map, then per level an upsampling to the
exact size the encoder saw there + a transposed conv 3×3 + batch-norm + ReLU, and a final transposed conv
to one channel plus a learnable bias per pixel, through a sigmoid (pixels are in [0, 1]). The reconstruction loss is the mean squared error
over the real pixels only (the zero padding of the square is not the sample's data).

Depth and widths come from the image side (:func:`architecture`): one pooling level per halving while the
map stays at least 4 pixels wide (at most ``max_depth``), channels ``base_channels · 2^level`` capped at
``max_channels``. Shapes below are for a batch of B images of side S, with S_l the side after l poolings
(S_0 = S, S_{l+1} = floor(S_l / 2)) and C_l the channels of level l.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
    return CAEConfig(side=side, n_pixels=n_pixels, latent_dim=latent_dim, channels=channels, dropout=dropout)


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
        self.encoder_dense = nn.Sequential(
            nn.Flatten(),  # (B, C_last, S_last, S_last) -> (B, C_last·S_last²)
            nn.Dropout(config.dropout),
            nn.Linear(c_last * s_last * s_last, config.latent_dim),  # -> (B, latent)
            # Unit-variance latent coordinates: an autoencoder's latent scale is arbitrary, and CEC's
            # Student-t kernel (1 + ||z - mu||^2)^-1 is near uniform, and collapses, on a tiny scale.
            nn.BatchNorm1d(config.latent_dim, affine=False),  # -> (B, latent)
        )

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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) -> (B, latent)"""
        return self.encoder_dense(self.encoder_conv(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent) -> (B, 1, S, S)"""
        return torch.sigmoid(self.output(self.decoder_conv(self.decoder_dense(z))) + self.pixel_bias)

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
