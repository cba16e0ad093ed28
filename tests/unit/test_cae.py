"""CAE: architecture from the image side, output shapes, the loss ignores the padding."""

import pytest
import torch

from popcen.models.cae import CAE, architecture, reconstruction_loss


@pytest.mark.parametrize(
    ("side", "max_depth", "depth"), [(66, 4, 4), (66, 3, 3), (20, 4, 2), (9, 4, 1), (3, 4, 1)]
)
def test_depth_follows_the_image_side(side, max_depth, depth):
    # one level per halving that keeps the map >= 4 wide: 66 -> 33 -> 16 -> 8 -> 4; 20 -> 10 -> 5
    config = architecture(
        side, side * side - 1, latent_dim=5, base_channels=8, max_channels=32, max_depth=max_depth
    )
    assert len(config.channels) == depth
    assert config.channels == tuple(min(8 * 2**i, 32) for i in range(depth))
    model = CAE(config).eval()
    x = torch.rand(3, 1, side, side)
    with torch.no_grad():
        z, x_hat = model(x)
    assert z.shape == (3, 5)
    assert x_hat.shape == x.shape
    assert float(x_hat.min()) >= 0 and float(x_hat.max()) <= 1


def test_reconstruction_loss_ignores_padding():
    x = torch.zeros(2, 1, 3, 3)
    x_hat = torch.zeros(2, 1, 3, 3)
    x_hat[:, 0, 2, 2] = 1.0  # pixel 8: padding when there are 7 real pixels
    assert reconstruction_loss(x, x_hat, n_pixels=7).item() == 0.0
    x_hat[0, 0, 0, 0] = 1.0  # a real pixel: (1 - 0)^2 over 2 x 7 pixels
    assert reconstruction_loss(x, x_hat, n_pixels=7).item() == pytest.approx(1 / 14)
