"""CEC: soft assignment and target distribution against the formulas by hand, one step lowers the loss,
same seed gives the same clusters, an interrupted CEC run resumes."""

from fractions import Fraction as F

import numpy as np
import pytest
import torch

from popcen.clustering.deep import train_cec
from popcen.models.cae import CAE, architecture
from popcen.models.cec import CEC, cec_loss, kl_divergence, soft_assignment, target_distribution
from popcen.training import Callback, seed_everything

# Three points, two centroids mu1 = (0, 0), mu2 = (2, 0), alpha = 1: q_ij ∝ 1 / (1 + d_ij²)
Z = [[0.0, 0.0], [0.0, 1.0], [2.0, 0.0]]
MU = [[0.0, 0.0], [2.0, 0.0]]
# d² = (0, 4), (1, 5), (4, 0)  ->  kernels (1, 1/5), (1/2, 1/6), (1/5, 1)
Q = [[F(5, 6), F(1, 6)], [F(3, 4), F(1, 4)], [F(1, 6), F(5, 6)]]


def _p_by_hand():
    f = [sum(row[j] for row in Q) for j in range(2)]  # f = (7/4, 5/4)
    assert f == [F(7, 4), F(5, 4)]
    rows = []
    for row in Q:
        w = [row[j] ** 2 / f[j] for j in range(2)]
        rows.append([wj / sum(w) for wj in w])
    return rows


def test_soft_assignment_matches_the_hand_computation():
    q = soft_assignment(torch.tensor(Z), torch.tensor(MU), alpha=1.0)
    np.testing.assert_allclose(q.numpy(), np.array(Q, dtype=float), rtol=1e-6)


def test_target_distribution_matches_the_hand_computation():
    p = target_distribution(torch.tensor(np.array(Q, dtype=float)))
    expected = _p_by_hand()
    # first row by hand: (25/36)/(7/4) = 25/63 and (1/36)/(5/4) = 1/45, then normalised
    assert expected[0][0] == F(25, 63) / (F(25, 63) + F(1, 45))
    np.testing.assert_allclose(p.numpy(), np.array(expected, dtype=float), rtol=1e-6)
    assert p[0, 0].item() > float(Q[0][0])  # the target is sharper than q where q is confident


def test_kl_divergence_by_hand():
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    q = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    row0 = 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)
    row1 = 1.0 * np.log(1.0 / 0.5)  # 0 log 0 = 0
    assert kl_divergence(p, q).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def _blobs(n_per=20, side=6, seed=0):
    """Three groups of 'genotype images' with different allele frequencies."""
    rng = np.random.default_rng(seed)
    m = side * side
    af = rng.uniform(0.05, 0.95, size=(3, m))
    pops = np.repeat(np.arange(3), n_per)
    x = rng.binomial(2, af[pops]).astype(np.float32) / 2
    return x.reshape(-1, 1, side, side), pops


def _cae(side=6, seed=0):
    seed_everything(seed)
    return CAE(architecture(side, side * side, latent_dim=3, base_channels=4, max_channels=8, max_depth=2))


def test_one_cec_step_lowers_the_loss():
    images, _ = _blobs()
    model = CEC(_cae(), n_clusters=3)
    with torch.no_grad():
        model.centroids.copy_(torch.randn(3, 3))
    x = torch.tensor(images)
    with torch.no_grad():
        p = target_distribution(model(x)[2])
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before = cec_loss(model, x, p, sigma=0.5)
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = cec_loss(model, x, p, sigma=0.5)
    assert after.item() < before.item()


SETTINGS = dict(
    optimizer="adam",
    lr=0.01,
    weight_decay=0.0,
    batch_size=16,
    max_epochs=4,
    patience=None,
    val_fraction=0.2,
    seed=5,
    amp=False,
)
CLUSTERING = dict(
    sigma=0.9,
    alpha=1.0,
    update_interval=3,
    tol=0.0,
    kmeans_n_init=3,
    init="kmeans",
    freeze_batchnorm=True,
    kernel="isotropic",
)


def test_same_seed_gives_identical_assignments_on_cpu(tmp_path):
    images, _ = _blobs()
    a = train_cec(_cae(), images, 3, SETTINGS, CLUSTERING, device="cpu", progress=False)
    b = train_cec(_cae(), images, 3, SETTINGS, CLUSTERING, device="cpu", progress=False)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.q, b.q)
    assert a.q.shape == (60, 3)
    np.testing.assert_allclose(a.q.sum(axis=1), 1, rtol=1e-5)


class _Interrupt(Callback):
    def on_batch_end(self, ctx, loss):
        if ctx.epoch == 3:
            raise KeyboardInterrupt


def test_interrupted_cec_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    images, _ = _blobs()
    reference = train_cec(_cae(), images, 3, SETTINGS, CLUSTERING, device="cpu", progress=False)

    import popcen.clustering.deep as deep

    real_fit = deep.fit

    def fit_with_interrupt(*args, callbacks=(), **kw):
        return real_fit(*args, callbacks=[*callbacks, _Interrupt()], **kw)

    monkeypatch.setattr(deep, "fit", fit_with_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_cec(
            _cae(), images, 3, SETTINGS, CLUSTERING, device="cpu", progress=False, checkpoint_dir=tmp_path
        )
    assert (tmp_path / "last.pt").exists()
    monkeypatch.setattr(deep, "fit", real_fit)
    resumed = train_cec(
        _cae(), images, 3, SETTINGS, CLUSTERING, device="cpu", progress=False, checkpoint_dir=tmp_path
    )
    assert resumed.result.resumed_from == 2
    assert resumed.result.epochs_run == 4
    assert np.array_equal(resumed.labels, reference.labels)
    np.testing.assert_allclose(resumed.q, reference.q, rtol=1e-6)


def test_cec_checkpoint_is_not_resumed_onto_other_images(tmp_path, monkeypatch, caplog):
    # Killed, then the features change (another LD seed gives other variants): train from scratch.
    images, _ = _blobs()
    changed = images[:, :, ::-1].copy()  # the same samples, the variants in another arrangement

    import popcen.clustering.deep as deep

    real_fit = deep.fit

    def fit_with_interrupt(*args, callbacks=(), **kw):
        return real_fit(*args, callbacks=[*callbacks, _Interrupt()], **kw)

    monkeypatch.setattr(deep, "fit", fit_with_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_cec(
            _cae(), images, 3, SETTINGS, CLUSTERING, device="cpu", progress=False, checkpoint_dir=tmp_path
        )
    monkeypatch.setattr(deep, "fit", real_fit)
    with caplog.at_level("WARNING", logger="popcen"):
        rerun = train_cec(
            _cae(), changed, 3, SETTINGS, CLUSTERING, device="cpu", progress=False, checkpoint_dir=tmp_path
        )
    assert rerun.result.resumed_from is None and rerun.result.epochs_run == 4
    assert "other training data" in caplog.text and "from scratch" in caplog.text
    fresh = train_cec(_cae(), changed, 3, SETTINGS, CLUSTERING, device="cpu", progress=False)
    np.testing.assert_allclose(rerun.q, fresh.q, rtol=1e-6)


def test_frozen_batchnorm_makes_a_training_step_see_the_eval_mode_latent():
    images, _ = _blobs()
    x = torch.tensor(images[:8])  # one population only: its batch statistics differ from the running ones
    cae = _cae()
    with torch.no_grad():  # running statistics of a "trained" CAE: from all three populations
        cae.train()
        cae(torch.tensor(images))
        cae.eval()
        z_eval = cae.encode(x)
    frozen = CEC(cae, n_clusters=3, freeze_batchnorm=True).train()
    running = [m.running_mean.clone() for m in frozen.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        torch.testing.assert_close(frozen(x)[0], z_eval)
    after = [m.running_mean for m in frozen.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(running, after, strict=True))
    assert frozen.cae.encoder_conv[0].weight.requires_grad  # frozen statistics, not frozen weights
    unfrozen = CEC(cae, n_clusters=3, freeze_batchnorm=False).train()
    with torch.no_grad():
        assert not torch.allclose(unfrozen(x)[0], z_eval, atol=1e-3)


@pytest.mark.parametrize("method", ["kmeans", "gmm", "ward"])
def test_initial_centroids_are_the_means_of_the_initial_clusters(method):
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 0.0]])  # latent_dim 3
    truth = np.repeat(np.arange(3), [10, 15, 20])  # unequal sizes
    latent = (centres[truth] + rng.normal(scale=0.5, size=(len(truth), 3))).astype(np.float32)
    model = CEC(_cae(), n_clusters=3)
    model.centroids.data[:] = 0.0
    from popcen.models.cec import init_centroids

    labels = init_centroids(model, latent, seed=0, n_init=4, method=method)
    # well-separated blobs: every method finds them (up to the cluster names)
    assert len({(t, c) for t, c in zip(truth, labels, strict=True)}) == 3
    expected = np.stack([latent[labels == j].mean(axis=0) for j in range(3)])
    np.testing.assert_allclose(model.centroids.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unknown"):
        init_centroids(model, latent, seed=0, method="spectral")


def test_scaled_soft_assignment_matches_the_hand_computation():
    # Same three points and centroids as above, d = 2, alpha = 1, exponent -(alpha + d)/2 = -3/2.
    # Cluster 1: precision diag(1, 4) (L = diag(1, 2), |L| = 2); cluster 2: identity (|L| = 1).
    # Mahalanobis m² to cluster 1: (0, 4, 4); to cluster 2: (4, 5, 0).
    # Kernels: 2·(1, 5, 5)^(-3/2) and (5, 6, 1)^(-3/2).
    from popcen.models.cec import scaled_soft_assignment

    tril = torch.tensor([[[1.0, 0.0], [0.0, 2.0]], [[1.0, 0.0], [0.0, 1.0]]])
    k1 = 2 * np.array([1.0, 5.0, 5.0]) ** -1.5
    k2 = np.array([5.0, 6.0, 1.0]) ** -1.5
    expected = np.stack([k1, k2], axis=1) / (k1 + k2)[:, None]
    q = scaled_soft_assignment(torch.tensor(Z), torch.tensor(MU), tril, alpha=1.0)
    np.testing.assert_allclose(q.numpy(), expected, rtol=1e-5)
    # a full L: m² = ||(z − μ) L||²; for z = (0, 1) and cluster 1 with L = [[1, 0], [1, 1]]: (0,1)L = (1, 1)
    full = torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    q = scaled_soft_assignment(torch.tensor(Z[1:2]), torch.tensor(MU), full, alpha=1.0)
    a, b = 3.0**-1.5, 6.0**-1.5
    np.testing.assert_allclose(q.numpy(), [[a / (a + b), b / (a + b)]], rtol=1e-5)


@pytest.mark.parametrize("kernel", ["diagonal", "full"])
def test_scaled_kernel_starts_from_the_initial_clusters_covariances(kernel):
    from popcen.models.cec import init_centroids

    rng = np.random.default_rng(4)
    # two elongated clusters: wide along x, narrow along y, 3 latent dimensions
    truth = np.repeat([0, 1], [30, 40])
    latent = rng.normal(size=(70, 3)) * np.array([2.0, 0.3, 1.0]) + np.array([[0, 0, 0], [0, 10, 0]])[truth]
    latent = latent.astype(np.float32)
    model = CEC(_cae(), n_clusters=2, kernel=kernel)
    labels = init_centroids(model, latent, seed=0, n_init=4, method="gmm")
    tril = model.precision_tril().detach().numpy()
    ridge = 1e-4 * np.trace(np.cov(latent.T)) / 3  # the documented regularisation of precision_cholesky
    for j in range(2):
        cov = np.cov(latent[labels == j].T)
        if kernel == "diagonal":
            cov = np.diag(np.diag(cov))
        precision = tril[j] @ tril[j].T
        np.testing.assert_allclose(precision, np.linalg.inv(cov + ridge * np.eye(3)), rtol=1e-4, atol=1e-5)
    # the shaped kernel separates what an isotropic one confuses: a point far along x in cluster 0
    z = torch.tensor([[7.0, 0.0, 0.0]])
    q_scaled = model.assign(z)[0].detach().numpy()
    iso = CEC(_cae(), n_clusters=2)
    iso.centroids.data[:] = model.centroids.data
    q_iso = iso.assign(z)[0].detach().numpy()
    c0 = labels[truth == 0][0]
    assert q_scaled[c0] > 0.99 > q_iso[c0]
    with pytest.raises(ValueError, match="unknown kernel"):
        CEC(_cae(), n_clusters=2, kernel="spherical")


def test_cec_with_a_full_kernel_trains_its_precisions():
    images, _ = _blobs()
    out = train_cec(
        _cae(), images, 3, SETTINGS, {**CLUSTERING, "kernel": "full"}, device="cpu", progress=False
    )
    from popcen.models.cec import init_centroids
    from popcen.representation import encode

    start = CEC(_cae(), n_clusters=3, kernel="full")
    init_centroids(start, encode(_cae(), images, device="cpu"), seed=SETTINGS["seed"], n_init=3)
    trained, initial = out.model.precision_tril().detach(), start.precision_tril().detach()
    assert not torch.allclose(trained, initial, atol=1e-4)  # the precisions are learned, not fixed
    np.testing.assert_allclose(out.q.sum(axis=1), 1, rtol=1e-5)


def test_mixture_start_keeps_the_likelier_of_its_restarts_and_the_ward_start(monkeypatch):
    """method gmm: the k-means++ restarts and a start from Ward's clusters are both fitted, and the fit of
    the higher likelihood gives the labels; Ward's start is built on at most WARD_START_SAMPLES samples."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.mixture import GaussianMixture

    import popcen.models.cec as cec

    rng = np.random.default_rng(7)
    # five groups, two of them close and elongated: restarts from k-means++ seeds can split a long group
    centres = np.array([[0, 0, 0], [3, 0, 0], [0, 9, 0], [9, 9, 0], [9, 0, 5]], dtype=float)
    truth = np.repeat(np.arange(5), [60, 60, 30, 30, 30])
    latent = centres[truth] + rng.normal(size=(len(truth), 3)) * np.array([0.4, 2.5, 0.4])
    start = cec.ward_start(latent, 5, seed=0)
    ward = AgglomerativeClustering(n_clusters=5, linkage="ward").fit_predict(latent)
    np.testing.assert_allclose(start["means_init"], [latent[ward == j].mean(0) for j in range(5)])
    np.testing.assert_allclose(start["weights_init"], np.bincount(ward) / len(ward))
    labels = cec.initial_clusters(latent, 5, "gmm", seed=0, n_init=2)
    options = {"n_components": 5, "covariance_type": "full", "random_state": 0, "reg_covar": 1e-5}
    fits = [GaussianMixture(**options, n_init=2).fit(latent), GaussianMixture(**options, **start).fit(latent)]
    assert fits[1].score(latent) > fits[0].score(latent)  # here the Ward start finds the likelier fit
    np.testing.assert_array_equal(labels, fits[1].predict(latent))
    # a large cohort: Ward on a random subset only
    seen = []
    real = cec.precision_cholesky
    monkeypatch.setattr(
        cec, "precision_cholesky", lambda x, *a, **kw: seen.append(len(x)) or real(x, *a, **kw)
    )
    monkeypatch.setattr(cec, "WARD_START_SAMPLES", 100)
    assert cec.ward_start(latent, 5, seed=1)["means_init"].shape == (5, 3) and seen == [100]
