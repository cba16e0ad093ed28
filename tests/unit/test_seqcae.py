"""Sequence CAE and its mini-batch source: shapes for any V, the padding stays out of the loss, sizes linear
in V, it learns structure, the PCA start is PCA, and the loader streams every sample once per epoch."""

import numpy as np
import pytest
import torch

from popcen.batches import GenotypeBatches, scale_rows, variant_means
from popcen.features import mean_impute
from popcen.models.cae import reconstruction_loss
from popcen.models.seqcae import SeqCAE, SeqCAEConfig, architecture, footprint, pca_axes, seqcae_loss
from popcen.training import FitOptions, fit


def structured(n, v, k=3, seed=0, missing=0.0):
    """Alt counts (n, v) int8 of k populations with their own allele frequencies (rank-k structure), and
    the population of each sample; a fraction ``missing`` of calls set to -1."""
    rng = np.random.default_rng(seed)
    pops = rng.integers(0, k, size=n)
    af = rng.uniform(0.02, 0.98, size=(k, v))
    gn = rng.binomial(2, af[pops]).astype(np.int8)
    gn[rng.random(gn.shape) < missing] = -1
    return gn, pops


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread (and do not slow down when other jobs share the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------ the model
@pytest.mark.parametrize(
    ("v", "patch", "max_depth", "max_length"),
    [(1, 8, 4, 16), (7, 8, 4, 16), (100, 8, 4, 16), (1001, 8, 4, 16), (1000, 4, 2, 16), (4096, 16, 6, 8)],
)
def test_shapes_for_any_number_of_variants(v, patch, max_depth, max_length):
    config = architecture(v, 5, patch=patch, base_channels=4, max_channels=8, max_depth=max_depth,
                          max_length=max_length)  # fmt: skip
    # expected depth: halvings of ceil(v / patch) while longer than max_length, at most max_depth - 1
    length, depth = -(-v // patch), 0
    while depth < max_depth - 1 and length > max_length:
        length, depth = -(-length // 2), depth + 1
    assert config.depth == depth
    model = SeqCAE(config).eval()
    x = torch.rand(3, 1, v)
    with torch.no_grad():
        z, x_hat = model(x)
        stem = model.blocks(1)(model.stem_input(x))
    assert z.shape == (3, 5)
    assert x_hat.shape == (3, 1, v)
    assert float(x_hat.min()) >= 0 and float(x_hat.max()) <= 1
    # the stem is a patch embedding: one position per `patch` variants (the last one partly padding)
    assert stem.shape == (3, 4, -(-v // patch) if depth == 0 else config.padded_length // patch)
    assert config.lengths()[-1] == -(-v // (patch * 2**depth))


def test_config_round_trips_through_json():
    import json

    config = architecture(3001, 6, patch=4, base_channels=4, max_depth=3, max_length=64, pca_init=True)
    again = SeqCAEConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.n_pixels == 3001
    with pytest.raises(ValueError, match="not a sequence CAE"):
        SeqCAEConfig.from_dict({**config.to_dict(), "architecture": "image"})


def test_a_padded_genotype_image_reads_as_the_sequence():
    v = 50
    model = SeqCAE(architecture(v, 3, patch=4, base_channels=2)).eval()
    x = torch.rand(2, 1, v)
    image = torch.zeros(2, 1, 8, 8)
    image.view(2, -1)[:, :v] = x[:, 0]
    with torch.no_grad():
        torch.testing.assert_close(model.encode(image), model.encode(x))
    with pytest.raises(ValueError, match="takes"):
        model.encode(torch.rand(2, 1, v + 1))


def test_reconstruction_loss_ignores_padding():
    # V = 13 with patch 4: the decoder's output runs to Vp = 16; its last 3 positions are padding and the
    # loss's gradient on them is zero, while every real position gets one.
    v = 13
    model = SeqCAE(architecture(v, 2, patch=4, base_channels=2)).train()
    assert model.config.padded_length == 16
    seen = {}

    def keep(_m, _i, out):
        out.retain_grad()
        seen["out"] = out

    model.output.register_forward_hook(keep)
    x = torch.rand(4, 1, v)
    seqcae_loss(model, (x,)).backward()
    grad = seen["out"].grad[:, 0]  # (4, 16)
    assert torch.all(grad[:, v:] == 0)
    assert torch.all(grad[:, :v].abs().sum(0) > 0)
    # and the loss function itself leaves positions past n_variants out, as for the image CAE
    x, x_hat = torch.zeros(2, 1, 10), torch.zeros(2, 1, 10)
    x_hat[:, 0, 8:] = 1.0
    assert reconstruction_loss(x, x_hat, 8).item() == 0.0


def test_parameters_and_activations_grow_at_most_linearly_in_v():
    # two configurations: with a bounded length (depth grows as log V, the channels capped) and with the
    # depth capped (the dense layers grow with V). Per variant, parameters and activations per sample do
    # not grow from 4,000 to 1,024,000 variants (256x), and the stem's map is C_0 * Vp / patch per sample.
    for kwargs in (dict(max_depth=8, max_length=32), dict(max_depth=2, max_length=32)):
        per_variant = []
        for v in (4_000, 32_000, 1_024_000):
            config = architecture(v, 8, patch=8, base_channels=8, max_channels=32, **kwargs)
            f = footprint(config, 4)
            per_variant.append((f["parameters"] / v, f["activations_per_sample"] / v))
            with torch.device("meta"):
                stem = SeqCAE(config).blocks(1)(torch.empty(1, 1, config.padded_length))
            assert stem.numel() == config.padded_length < v + 8 * 2**config.depth
        for (p_small, a_small), (p_large, a_large) in zip(per_variant, per_variant[1:], strict=False):
            assert p_large <= p_small * 1.01
            assert a_large <= a_small * 1.05


def test_a_small_model_learns_structure_better_than_the_mean(one_thread):
    gn, _ = structured(240, 400, k=3, seed=1)
    x = torch.as_tensor(gn[:, None, :] / 2, dtype=torch.float32)
    train, test = x[:200], x[200:]
    model = SeqCAE(architecture(400, 4, patch=4, base_channels=8, max_depth=2, max_length=64))
    model.init_pixel_bias(train.mean(0))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train), batch_size=20, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    options = FitOptions(optimizer="adam", lr=0.01, max_epochs=10, patience=None, seed=0, progress=False)
    fit(model, loader, None, seqcae_loss, options)
    model.eval()
    with torch.no_grad():
        mse = float(seqcae_loss(model, (test,)))
    baseline = float(((test - train.mean(0)) ** 2).mean())  # the per-variant mean of the training samples
    # the best possible: each sample's population frequency (binomial noise left): 3 populations explain
    # about a third of the variance here; ask for most of that gain
    assert mse < baseline - 0.5 * (baseline - _population_mse(gn, test, 200))


def _population_mse(gn, test, n_train):
    """MSE of predicting each test sample by its population's mean over the training samples (the oracle
    that knows the populations)."""
    _, pops = structured(240, 400, k=3, seed=1)
    train = gn[:n_train] / 2
    means = np.stack([train[pops[:n_train] == p].mean(0) for p in range(3)])
    return float(((test[:, 0].numpy() - means[pops[n_train:]]) ** 2).mean())


def test_pca_init_starts_at_the_pca_of_the_training_samples():
    gn, _ = structured(60, 90, k=3, seed=3)
    x = (gn / 2).astype(np.float32)
    train, test = x[:50], x[50:]
    d = 4
    model = SeqCAE(architecture(90, d, patch=4, base_channels=2, dropout=0.3, pca_init=True))
    mean, axes = pca_axes(train, d)
    model.init_pca(mean, axes)
    model.eval()
    # PCA independently: eigenvectors of the covariance of the training samples
    centred = train.astype(np.float64) - train.mean(0)
    w, vecs = np.linalg.eigh(centred.T @ centred)
    top = vecs[:, np.argsort(w)[::-1][:d]].T
    scores = (test - train.mean(0)) @ top.T
    with torch.no_grad():
        z, x_hat = model(torch.as_tensor(test[:, None, :]))
    z = z.numpy().astype(np.float64)
    signs = np.sign((z * scores).sum(axis=0))
    np.testing.assert_allclose(z, scores * signs, atol=1e-4)
    np.testing.assert_allclose(x_hat.numpy()[:, 0], train.mean(0) + scores @ top, atol=1e-4)
    with pytest.raises(ValueError, match="pca_init"):
        SeqCAE(architecture(90, d)).init_pca(mean, axes)


# ------------------------------------------------------------------------------------------ the loader
@pytest.fixture
def store(tmp_path):
    """A Zarr (samples, variants) int8 store chunked by samples, with missing calls, and its numpy copy."""
    import zarr

    gn, _ = structured(53, 70, seed=5, missing=0.05)
    gn[:, 3] = -1  # a variant without a call: imputed with 0, as mean_impute does
    array = zarr.open_group(str(tmp_path / "g.zarr"), mode="w").create_dataset(
        "alt_count", data=gn, chunks=(8, 16), dtype="i1"
    )
    return array, gn


def test_streamed_batches_are_the_mean_imputed_matrix(store):
    array, gn = store
    expected = mean_impute(gn) / 2  # independent path: the in-memory imputation of the whole matrix
    np.testing.assert_allclose(variant_means(array), _means(gn), rtol=1e-6)
    rows = np.arange(0, 53, 2)
    loader = GenotypeBatches(array, rows, batch_size=5, shuffle=True, seed=3, with_index=True)
    for x, index in loader:
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 70)
        np.testing.assert_allclose(x[:, 0].numpy(), expected[index.numpy()], rtol=1e-6)


def _means(gn):
    called = gn >= 0
    return np.where(called, gn, 0).sum(0) / np.maximum(called.sum(0), 1)


@pytest.mark.parametrize("buffer_samples", [8, 20, 1000])
def test_every_sample_once_per_epoch_same_order_for_a_seed(store, buffer_samples):
    array, _ = store
    rows = np.setdiff1d(np.arange(53), [4, 17, 40])

    def epochs(seed, n=3):
        loader = GenotypeBatches(array, rows, batch_size=6, shuffle=True, seed=seed, with_index=True,
                                 buffer_samples=buffer_samples)  # fmt: skip
        assert loader.chunk_samples == 8  # the store's row chunk
        out = []
        for _ in range(n):
            batches = [i.numpy() for _, i in loader]
            assert len(batches) == len(loader) == -(-len(rows) // 6)
            assert all(len(b) == 6 for b in batches[:-1])  # only the last batch is short
            out.append(np.concatenate(batches))
        return out

    first = epochs(seed=11)
    for order in first:
        assert sorted(order.tolist()) == rows.tolist()
    assert any(not np.array_equal(first[0], o) for o in first[1:])  # a new order every epoch
    for a, b in zip(first, epochs(seed=11), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], epochs(seed=12, n=1)[0])


def test_unshuffled_batches_are_in_row_order_and_numpy_works_too(store):
    array, gn = store
    for source in (array, gn):
        loader = GenotypeBatches(source, batch_size=7, with_index=True)
        index = np.concatenate([i.numpy() for _, i in loader])
        np.testing.assert_array_equal(index, np.arange(53))
    x = np.concatenate([b[0].numpy() for b in GenotypeBatches(gn, batch_size=7)])
    np.testing.assert_allclose(x[:, 0], mean_impute(gn) / 2, rtol=1e-6)


def test_scale_rows_and_the_store_chunked_by_samples(tmp_path):
    from popcen.features import FeatureWriter, open_genotypes

    block = np.array([[0, 1, -1], [2, -1, -1]], dtype=np.int8)
    out = scale_rows(block, np.array([1.0, 0.5, 1.5], dtype=np.float32))
    np.testing.assert_array_equal(out[:, 0], [[0.0, 0.5, 0.75], [1.0, 0.25, 0.75]])
    gn, _ = structured(70, 30, seed=2)
    writer = FeatureWriter(tmp_path / "g.zarr", 70)
    writer.append(gn[:, :10])
    writer.append(gn[:, 10:])
    store = open_genotypes(tmp_path / "g.zarr")
    assert store.chunks == (32, 8192)  # batches of samples read only their rows of chunks
    np.testing.assert_array_equal(store[:], gn)
    loader = GenotypeBatches(store, batch_size=16, shuffle=True, seed=0, with_index=True)
    assert loader.chunk_samples == 32 and len(loader.units) == 3
    assert sorted(np.concatenate([i.numpy() for _, i in loader]).tolist()) == list(range(70))


def test_streamed_pca_start_equals_the_in_memory_pca(store):
    from popcen.batches import pca_start

    array, gn = store
    rows = np.arange(3, 50)
    x = mean_impute(gn)[rows] / 2  # the model's input on the training rows, in memory
    mean, axes = pca_start(array, rows, 3, seed=0, block=16)
    centred = x.astype(np.float64) - x.mean(0)
    w, vecs = np.linalg.eigh(centred.T @ centred)  # independent: eigenvectors of the scatter matrix
    top = vecs[:, np.argsort(w)[::-1][:3]].T
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-6)
    # blocked_pca imputes with the rows' mean, the input with the cohort's: equal up to the missing calls
    # (5 % here), so the axes agree closely, not to rounding; up to sign
    signs = np.sign((axes * top).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(axes, top * signs, atol=0.05)
    np.testing.assert_allclose(np.linalg.norm(axes, axis=1), 1.0, atol=0.02)


def test_streamed_pca_start_is_exact_without_missing_calls(tmp_path):
    # with no missing call both imputations agree, and with at most k + 10 rows the range finder spans every
    # sample direction: the axes are PCA's to rounding
    import zarr

    from popcen.batches import pca_start

    gn, _ = structured(40, 70, seed=8)
    array = zarr.open_group(str(tmp_path / "g.zarr"), mode="w").create_dataset(
        "alt_count", data=gn, chunks=(8, 16), dtype="i1"
    )
    rows = np.arange(5, 40, 3)  # 12 rows
    x = gn[rows].astype(np.float64) / 2
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    mean, axes = pca_start(array, rows, 4, seed=1)
    np.testing.assert_allclose(mean, x.mean(0), atol=1e-12)
    signs = np.sign((axes * vt[:4]).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(axes, vt[:4] * signs, atol=1e-6)


# ------------------------------------------------------------------- wired in: training, CEC, classifier
SETTINGS = dict(
    optimizer="adam", lr=0.01, weight_decay=0.0, batch_size=8, max_epochs=3, patience=None,
    val_fraction=0.2, seed=1, amp=False,
)  # fmt: skip
SEQUENCE = dict(
    architecture="sequence", latent_dim=4, patch=4, base_channels=4, max_channels=8, max_depth=2,
    max_length=8, dropout=0.0,
)  # fmt: skip


@pytest.fixture
def grouped_store(tmp_path):
    """4 populations of 40 samples, listed population by population (as cohorts are), in a FeatureWriter
    store (chunked by samples); 2 % missing calls."""
    from popcen.features import FeatureWriter, open_genotypes

    rng = np.random.default_rng(0)
    af = rng.uniform(0.05, 0.95, size=(4, 150))
    pops = np.repeat(np.arange(4), 40)
    gn = rng.binomial(2, af[pops]).astype(np.int8)
    gn[rng.random(gn.shape) < 0.02] = -1
    FeatureWriter(tmp_path / "g.zarr", len(gn)).append(gn)
    return open_genotypes(tmp_path / "g.zarr"), gn, pops


@pytest.mark.parametrize("pca_init", [False, True])
def test_train_cae_sequence_on_the_store(grouped_store, pca_init, tmp_path, one_thread):
    from popcen.batches import GenotypeData
    from popcen.representation import encode, load_cae, save_cae, train_cae

    store, gn, pops = grouped_store
    data = GenotypeData.of(store)
    cae, result = train_cae(data, 150, SETTINGS, {**SEQUENCE, "pca_init": pca_init}, device="cpu",
                            stratify=pops, progress=False)  # fmt: skip
    assert isinstance(cae, SeqCAE) and result.epochs_run == 3
    latent = encode(cae, data, device="cpu")
    assert latent.shape == (160, 4)
    if not pca_init:  # the batch-norm after the code standardises it over the whole (mixed) data
        np.testing.assert_allclose(latent.std(axis=0), 1.0, atol=0.15)
    # the same latent from an in-memory copy of the inputs (an independent path to the values)
    x = torch.as_tensor(mean_impute(gn)[:, None, :] / 2)
    with torch.no_grad():
        np.testing.assert_allclose(cae.eval().encode(x).numpy(), latent, atol=1e-5)
    save_cae(cae, tmp_path / "cae.pt", tmp_path / "cae.json")
    again, meta = load_cae(tmp_path / "cae.pt", tmp_path / "cae.json")
    assert meta["cae"]["architecture"] == "sequence" and isinstance(again, SeqCAE)
    np.testing.assert_allclose(encode(again, data, device="cpu"), latent, atol=1e-6)


def test_cec_runs_on_a_sequence_cae(grouped_store, one_thread):
    from popcen.batches import GenotypeData
    from popcen.clustering.deep import train_cec
    from popcen.representation import train_cae

    store, _, pops = grouped_store
    data = GenotypeData.of(store)
    cae, _ = train_cae(data, 150, SETTINGS, SEQUENCE, device="cpu", progress=False)
    clustering = dict(sigma=0.9, alpha=1.0, update_interval=4, tol=0.0, init="kmeans", kernel="isotropic",
                      freeze_batchnorm=True, kmeans_n_init=4)  # fmt: skip
    out = train_cec(cae, data, 4, {**SETTINGS, "max_epochs": 2}, clustering, device="cpu", progress=False)
    assert out.q.shape == (160, 4) and out.latent.shape == (160, 4)
    np.testing.assert_allclose(out.q.sum(axis=1), 1.0, atol=1e-5)
    # 4 well separated populations: the clusters follow them
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(pops, out.labels) > 0.9


@pytest.mark.parametrize("layout", ["image", "sequence"])
def test_the_classifier_latent_is_the_cae_code_pca_path_included(layout):
    from popcen.classification.model import ClassifierConfig, build_classifier
    from popcen.models import cae as image_cae

    if layout == "image":
        config = image_cae.architecture(8, 60, latent_dim=3, base_channels=2, pca_init=True)
        model, x = image_cae.CAE(config), torch.rand(5, 1, 8, 8)
        model.init_pca(torch.rand(20, 1, 8, 8).numpy())
    else:
        config = architecture(60, 3, patch=4, base_channels=2, pca_init=True)
        model, x = SeqCAE(config), torch.rand(5, 1, 60)
        model.init_pca(*pca_axes(np.random.default_rng(0).random((20, 60)), 3))
    model.eval()
    clf = build_classifier(config.to_dict(), model.state_dict(), ClassifierConfig(3, encoder_output="latent"))
    clf.eval()
    with torch.no_grad():
        torch.testing.assert_close(clf.encode(x), model.encode(x))
        assert clf(x).shape == (5, 3)


def test_the_classifier_conv_features_of_a_sequence_cae_are_its_stem_map():
    from popcen.classification.model import ClassifierConfig, build_classifier, encoder_width

    config = architecture(61, 3, patch=4, base_channels=2, max_depth=3, max_length=4)
    model = SeqCAE(config).eval()
    x = torch.rand(5, 1, 61)
    for blocks in (1, 2):
        clf = build_classifier(
            config.to_dict(), model.state_dict(), ClassifierConfig(3, encoder_blocks=blocks)
        )
        with torch.no_grad():
            expected = model.blocks(blocks)(torch.nn.functional.pad(x, (0, config.padded_length - 61)))
            torch.testing.assert_close(clf.eval().encode(x), expected)
        assert encoder_width(config, "conv", blocks) == expected[0].numel()
        # the head was sized for it, and a zero-padded image of the same variants reads the same
        image = torch.zeros(5, 1, 8, 8)
        image.view(5, -1)[:, :61] = x[:, 0]
        with torch.no_grad():
            torch.testing.assert_close(clf(image), clf(x))


def test_a_classifier_on_the_store_streams_its_wide_conv_features(grouped_store, monkeypatch, one_thread):
    """A sequence CAE's stem map (one feature per variant) is not held when too wide: the head trains on
    features computed batch by batch from the int8 store and separates the populations."""
    import popcen.classification.train as train
    from popcen.batches import GenotypeData
    from popcen.classification.cv import evaluate_level, stratified_folds

    array, gn, pops = grouped_store
    monkeypatch.setattr(train, "MAX_HELD_FEATURE_BYTES", 0)
    torch.manual_seed(0)
    config = architecture(gn.shape[1], 4, patch=1, base_channels=1, max_depth=1).to_dict()
    settings = train.TrainSettings(
        encoder_blocks=1,
        hidden=0,
        noise_std=0.0,
        dropout=0.0,
        optimizer="adam",
        lr=0.01,
        max_epochs=8,
        patience=0,
        batch_size=16,
        device="cpu",
        l2_c=0.1,
    )
    data = GenotypeData.of(array)
    folds = stratified_folds(pops, 4, seed=0)
    proba, _ = train.cross_validated_proba(
        data, pops, 4, config, SeqCAE(SeqCAEConfig.from_dict(config)).state_dict(), settings, folds
    )
    assert evaluate_level(pops, proba, [0, 1, 2, 3], folds)["summary"]["f1"] > 0.9


def test_cae_images_of_a_sequence_cae_are_the_int8_store_of_its_variants(store):
    from popcen.batches import GenotypeData
    from popcen.classification.model import cae_images

    array, gn = store
    index = np.arange(5, 60, 2)
    config = architecture(len(index), 3).to_dict()
    data, rows = cae_images(array, {"variant_index": index.tolist()}, config)
    assert isinstance(data, GenotypeData)
    np.testing.assert_array_equal(rows, index)
    np.testing.assert_array_equal(np.asarray(data.alt_count), gn[:, index])
    # what a batch holds: independent mean imputation of the selected columns, halved
    (x,) = next(iter(GenotypeBatches(data.alt_count, batch_size=len(gn), means=data.means)))
    np.testing.assert_allclose(x[:, 0].numpy(), mean_impute(gn[:, index]) / 2, rtol=1e-6)
    # every variant in order: the store itself, not a copy
    whole, _ = cae_images(array, {}, architecture(gn.shape[1], 3).to_dict())
    assert whole.alt_count is array
    assert isinstance(whole.held(gn.size).alt_count, np.ndarray)
    assert whole.held(gn.size - 1).alt_count is array
    with pytest.raises(Exception, match="re-run train_cae"):
        cae_images(array, {"variant_index": index[:-1].tolist()}, config)


def test_sample_loader_of_images_is_make_loader():
    from popcen.batches import sample_loader
    from popcen.training import make_loader

    images = np.random.default_rng(0).random((30, 1, 4, 4)).astype(np.float32)
    rows = np.arange(3, 30, 2)
    ours = list(sample_loader(images, rows, batch_size=4, shuffle=True, seed=2, with_index=True))
    theirs = list(make_loader(images[rows], rows, batch_size=4, shuffle=True, seed=2))
    for (a, i), (b, j) in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(i, j)


def test_whole_genome_batches_train_as_micro_batches(grouped_store, one_thread, monkeypatch, caplog):
    """train_cae and train_cec give fit the sequence CAE's activations per sample: with a budget of 3
    samples (standing for a whole genome's 0.5 GB each against 2 GiB) batches of 8 train as micro-batches
    of 3, CEC's (images, index) batches included, and the populations are still found."""
    from sklearn.metrics import adjusted_rand_score

    from popcen import training
    from popcen.batches import GenotypeData
    from popcen.clustering.deep import train_cec
    from popcen.models.seqcae import sample_bytes
    from popcen.representation import train_cae

    store, _, pops = grouped_store
    data = GenotypeData.of(store)
    per_sample = sample_bytes(architecture(150, 4, patch=4, base_channels=4, max_channels=8, max_depth=2,
                                           max_length=8))  # fmt: skip
    # linear in the variants: the figure the budget is compared with at genome scale
    assert sample_bytes(architecture(1_000_000, 20, patch=2, base_channels=8, max_depth=12)) > 4e8
    monkeypatch.setattr(training, "CPU_ACTIVATION_BYTES", 3.5 * per_sample)
    with caplog.at_level("INFO", logger="popcen"):
        cae, _ = train_cae(data, 150, SETTINGS, SEQUENCE, device="cpu", progress=False)
        clustering = dict(sigma=0.9, alpha=1.0, update_interval=4, tol=0.0, init="kmeans", kernel="isotropic",
                          freeze_batchnorm=True, kmeans_n_init=4)  # fmt: skip
        out = train_cec(cae, data, 4, {**SETTINGS, "max_epochs": 2}, clustering, device="cpu", progress=False)
    assert "CAE: batches of 8 trained as micro-batches of 3" in caplog.text
    assert "CEC K=4: batches of 8 trained as micro-batches of 3" in caplog.text
    assert adjusted_rand_score(pops, out.labels) > 0.9


def test_inference_batches_are_sized_by_the_widest_activation():
    """At 1 M variants the stem's map holds 4 floats per variant (8 channels over pairs of variants): an
    inference batch sized by the input (67 samples) would make 1 GB activations; sized by the map, 16
    samples make 256 MB (INFER_ACTIVATION_BYTES). CEC's batches follow its CAE."""
    from popcen.batches import INFER_ACTIVATION_BYTES, infer_batch_size, inference_batch
    from popcen.models.cae import architecture as image_architecture
    from popcen.models.cec import CEC

    config = architecture(1_000_000, 20, patch=2, base_channels=8, max_depth=12)
    assert config.widest_map == 8 * config.padded_length // 2  # padded to 1,003,520 variants
    with torch.device("meta"):
        model = SeqCAE(config)
        cec = CEC(model, 26)
    assert infer_batch_size(1_000_000) == 67
    assert inference_batch(model, None) == inference_batch(cec, None) == 16
    assert 16 * 4 * config.widest_map <= INFER_ACTIVATION_BYTES
    # the image CAE: its first block's map, C_1 channels over the whole image
    image = image_architecture(64, 4096, latent_dim=20, base_channels=16)
    assert image.widest_map == 16 * 64 * 64
