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


def test_trained_cae_latent_is_standardised_in_eval_mode_when_samples_come_grouped():
    # Cohorts list their samples population by population. The batch-norm statistics recomputed after
    # training must be those of shuffled batches (what the layers were trained on): in file order each batch
    # holds one population, and the eval-mode latent came out ~1.8x too wide on 1000 Genomes.
    import numpy as np

    from popcen.representation import encode, train_cae

    rng = np.random.default_rng(0)
    side = 8
    af = rng.uniform(0.05, 0.95, size=(4, side * side))
    pops = np.repeat(np.arange(4), 40)  # grouped, as in a cohort's sample table
    images = (rng.binomial(2, af[pops]) / 2).astype(np.float32).reshape(-1, 1, side, side)
    settings = dict(
        optimizer="adam",
        lr=0.01,
        weight_decay=0.0,
        batch_size=8,
        max_epochs=3,
        patience=None,
        val_fraction=0.0,
        seed=1,
        amp=False,
    )
    representation = dict(latent_dim=4, base_channels=4, max_channels=8, max_depth=2, dropout=0.0)
    cae, _ = train_cae(images, side * side, settings, representation, device="cpu", progress=False)
    std = encode(cae, images, device="cpu").std(axis=0)
    # the last batch-norm standardises the latent: unit variance over the whole (mixed) data
    np.testing.assert_allclose(std, 1.0, atol=0.15)


def test_pca_init_starts_at_the_pca_of_the_training_images():
    # At step 0 the encoder returns the PCA scores of the input and the decoder PCA's reconstruction, with
    # the PCA computed independently here (numpy SVD of the centred real pixels of the training images).
    import numpy as np

    rng = np.random.default_rng(3)
    side, n_pixels, d = 8, 60, 4  # 4 padding pixels, left out of the PCA
    pops = rng.integers(0, 3, size=50)
    af = rng.uniform(0.1, 0.9, size=(3, n_pixels))
    flat = np.zeros((50, side * side), dtype=np.float32)
    flat[:, :n_pixels] = rng.binomial(2, af[pops]) / 2
    images = flat.reshape(-1, 1, side, side)
    train, test = images[:40], images[40:]
    model = CAE(architecture(side, n_pixels, latent_dim=d, base_channels=4, dropout=0.3, pca_init=True))
    model.init_pca(train)
    model.eval()

    x_tr = train.reshape(40, -1)[:, :n_pixels].astype(np.float64)
    mean = x_tr.mean(axis=0)
    _, _, vt = np.linalg.svd(x_tr - mean, full_matrices=False)
    axes = vt[:d]
    x_te = test.reshape(10, -1)[:, :n_pixels].astype(np.float64)
    scores = (x_te - mean) @ axes.T
    with torch.no_grad():
        z, x_hat = model(torch.as_tensor(test))
    # SVD axes are defined up to sign: compare column by column, up to that sign
    z = z.numpy().astype(np.float64)
    signs = np.sign((z * scores).sum(axis=0))
    np.testing.assert_allclose(z, scores * signs, atol=1e-4)
    recon = mean + scores @ axes
    np.testing.assert_allclose(x_hat.numpy().reshape(10, -1)[:, :n_pixels], recon, atol=1e-4)
    # and training moves away from it (the conv path is not dead): one gradient step changes the latent
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    from popcen.models.cae import cae_loss

    for _ in range(2):
        opt.zero_grad()
        cae_loss(model, (torch.as_tensor(train),)).backward()
        opt.step()
    assert float(model.encoder_dense[2].weight.detach().abs().sum()) > 0
    assert float(model.output.weight.detach().abs().sum()) > 0


def test_pca_init_needs_the_option():
    model = CAE(architecture(8, 64, latent_dim=3))
    with pytest.raises(ValueError, match="pca_init"):
        model.init_pca(torch.rand(10, 1, 8, 8).numpy())
