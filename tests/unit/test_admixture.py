"""Admixture-style proportions (popcen.admixture, rules admixture_proportions, k_sweep_proportions and
predict_admixture) and the figure of a new cohort over the reference (popcen.plots.predict, rule
predict_over_reference).

The Q matrix is checked against CEC's own soft assignments, the one at the K sweep's K against the sweep's
(its CEC's, or the Student t on its k-means centroids); a re-encoded copy of the training cohort (other
chromosome names, swapped alleles, its own record order) put through rule predict's alignment and the
saved CEC must get the training cohort's Q; cluster names against hand-made tables; the projection
against an SVD done here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from popcen import admixture
from popcen.classification.newcohort import aligned_counts
from popcen.clustering import deep, ksweep
from popcen.errors import PopcenInputError
from popcen.features import FeatureWriter
from popcen.io import read_json, read_table, write_table
from popcen.pipeline import call, clustering, predict, representation
from popcen.plots.predict import call_categories, reference_projection
from popcen.variant_matching import match_variants

TRAINING = {
    "optimizer": "adam",
    "lr": 2e-3,
    "weight_decay": 0.0,
    "lr_schedule": "constant",
    "batch_size": 8,
    "max_epochs": 2,
    "patience": 2,
    "val_fraction": 0.2,
    "seed": 1,
    "amp": False,
}
REPRESENTATION = {
    "max_variants": 64,  # of 80: the CEC's variants are a subset of the feature table's rows
    "latent_dim": 4,
    "base_channels": 4,
    "max_channels": 8,
    "max_depth": 1,
    "dropout": 0.0,
    "pca_init": False,
    "training": {},
}
CEC_KEYS = {
    "sigma": 0.9,
    "alpha": 1.0,
    "update_interval": 2,
    "tol": 0.001,
    "init": "kmeans",
    "kernel": "full",  # the learnable precisions must travel with the saved CEC too
    "freeze_batchnorm": True,
    "kmeans_n_init": 2,
    "training": {"max_epochs": 2},
}
COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """3 populations x 8 samples, 80 variants; CAE, CEC at K = 4 (pop level) and the cohort's Q."""
    d = tmp_path_factory.mktemp("admixture")
    rng = np.random.default_rng(0)
    n_var = 80
    freqs = rng.uniform(0.05, 0.95, size=(3, n_var))
    gn = np.concatenate([rng.binomial(2, f, size=(8, n_var)) for f in freqs]).astype(np.int8)
    gn[rng.random(gn.shape) < 0.02] = -1
    FeatureWriter(d / "genotypes.zarr", len(gn)).append(gn)
    samples = pd.DataFrame(
        {"sample": [f"s{i}" for i in range(len(gn))], "pop": np.repeat(["A", "B", "C"], 8), "super_pop": "X"}
    )
    ref = rng.choice(list("ACGT"), n_var)
    alt = np.array([rng.choice([b for b in "ACGT" if b not in (r, COMP[r])]) for r in ref])  # no A/T, C/G
    called = gn >= 0
    variants = pd.DataFrame(
        {
            "id": [f"v{j}" for j in range(n_var)],
            "chrom": "1",
            "pos": np.arange(n_var) * 10 + 1,
            "ref": ref,
            "alt": alt,
            "af": (np.where(called, gn, 0).sum(0) / (2 * called.sum(0))).round(6),
        }
    )
    write_table(samples, d / "samples.tsv")
    write_table(variants, d / "variants.tsv")
    features = {
        "genotypes": d / "genotypes.zarr",
        "variants": d / "variants.tsv",
        "samples": d / "samples.tsv",
    }
    cae = {"cae_weights": d / "cae.pt", "cae_json": d / "cae.json"}
    call(
        representation.train_cae,
        input=features,
        output={"weights": cae["cae_weights"], "config": cae["cae_json"], "latent": d / "latent.tsv"}
        | {"losses": d / "cae_losses.tsv"},
        params={
            "training": TRAINING,
            "representation": REPRESENTATION,
            "label_columns": ["pop", "super_pop"],
            "device": "cpu",
            "checkpoint_dir": d / "cae_checkpoints",
        },
    )
    cec = {
        "weights": d / "cec.pt",
        "config": d / "cec.json",
        "assignments": d / "cec_assignments.tsv",
        "losses": d / "cec_losses.tsv",
    }
    call(
        clustering.train_cec,
        input={**features, **cae},
        output=cec,
        params={
            "training": TRAINING,
            "clustering": {**CEC_KEYS, "k": 4, "levels": {}},
            "device": "cpu",
            "checkpoint_dir": d / "cec_checkpoints",
        },
        wildcards={"level": "pop"},
    )
    adm = {"q": d / "Q.tsv", "plot": d / "structure.png"}
    call(
        clustering.admixture_proportions,
        input={"assignments": cec["assignments"], "cec_json": cec["config"]},
        output=adm,
        params={"k": 4},
        wildcards={"cohort": "demo", "level": "pop"},
    )
    return {"dir": d, "gn": gn, "samples": samples, "variants": variants, "features": features} | {
        "cec": cec,
        "adm": adm,
    }


def test_q_rows_sum_to_one_and_are_the_cec_soft_assignments(trained):
    q = read_table(trained["adm"]["q"])
    cec = read_table(trained["cec"]["assignments"], dtype={"pop": str})
    assert q["sample"].tolist() == cec["sample"].tolist() == trained["samples"]["sample"].tolist()
    values = q.drop(columns="sample").to_numpy()
    assert values.shape == (24, 4)
    np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(values, cec[["q0", "q1", "q2", "q3"]].to_numpy(), atol=2e-5)
    # the columns are the clusters in order, each named by the pop most of its argmax samples carry
    names = q.columns[1:].tolist()
    for j, name in enumerate(names):
        members = cec.loc[cec["cluster"] == j, "pop"]
        if len(members):
            assert name.split("_")[0] == members.value_counts().sort_index().idxmax()
    assert len(set(names)) == 4  # K = 4 clusters for 3 pops: one name repeats with a suffix
    assert trained["adm"]["plot"].stat().st_size > 5000


def test_a_reencoded_copy_of_the_training_cohort_gets_the_training_q(trained, tmp_path):
    """The training cohort's genotypes as another cohort's VCF would give them (chromosome 'chr1', every
    third variant with REF/ALT swapped and its counts recoded, records shuffled) go through predict's
    matching and alignment and the saved CEC: each sample's q is the one train_cec gave it."""
    gn, variants, samples = trained["gn"], trained["variants"], trained["samples"]
    cec_meta = read_json(trained["cec"]["config"])
    index = np.asarray(cec_meta["variant_index"])
    assert len(index) == 64
    new = variants[["chrom", "pos", "ref", "alt"]].copy()
    new["chrom"] = "chr1"
    new_gn = gn.copy()
    swap = np.arange(len(new)) % 3 == 1
    new.loc[swap, ["ref", "alt"]] = new.loc[swap, ["alt", "ref"]].to_numpy()
    new_gn[:, swap] = np.where(gn[:, swap] >= 0, 2 - gn[:, swap], -1)
    order = np.random.default_rng(2).permutation(len(new))
    match = match_variants(variants.iloc[index].reset_index(drop=True), new.iloc[order], "exact")
    aligned = aligned_counts(new_gn[:, order], match)
    np.testing.assert_array_equal(aligned, gn[:, index])  # the training counts, missing calls -1
    store = tmp_path / "aligned.zarr"
    predict.write_aligned(store, aligned, index, samples["sample"])
    predictions = pd.DataFrame({"sample": samples["sample"], "call": samples["pop"], "outlier": "False"})
    predictions.loc[0, "call"] = "unassigned"
    write_table(predictions, tmp_path / "predictions.tsv")
    out = {"q": tmp_path / "Q.tsv", "plot": tmp_path / "structure.png"}
    call(
        predict.predict_admixture,
        input={
            "aligned": store,
            "predictions": tmp_path / "predictions.tsv",
            "model_variants": trained["features"]["variants"],
            "cec_weights": trained["cec"]["weights"],
            "cec_json": trained["cec"]["config"],
            "model_q": trained["adm"]["q"],
        },
        output=out,
        params={"model_cohort": "demo", "k": 4, "device": "cpu"},
        wildcards={"cohort": "demo_new", "level": "pop"},
    )
    new_q, train_q = read_table(out["q"]), read_table(trained["adm"]["q"])
    assert new_q.columns.tolist() == train_q.columns.tolist()  # the model cohort's cluster names
    assert new_q["sample"].tolist() == samples["sample"].tolist()
    np.testing.assert_allclose(new_q.drop(columns="sample"), train_q.drop(columns="sample"), atol=5e-5)
    assert out["plot"].stat().st_size > 5000
    # aligned to other variants than the CEC saw: one clear error, nothing written
    predict.write_aligned(store, aligned[:, :-1], index[:-1], samples["sample"])
    with pytest.raises(PopcenInputError, match="re-run predict"):
        call(
            predict.predict_admixture,
            input={
                "aligned": store,
                "predictions": tmp_path / "predictions.tsv",
                "model_variants": trained["features"]["variants"],
                "cec_weights": trained["cec"]["weights"],
                "cec_json": trained["cec"]["config"],
                "model_q": trained["adm"]["q"],
            },
            output={"q": tmp_path / "Q2.tsv", "plot": tmp_path / "s2.png"},
            params={"model_cohort": "demo", "k": 4, "device": "cpu"},
            wildcards={"cohort": "demo_new", "level": "pop"},
        )


def _sweep_then_q(trained, tmp_path, epochs):
    """Rule k_sweep (K = 2 .. 5) then rule k_sweep_proportions on the fixture's CAE: (choice, sweep's q table,
    Q table)."""
    d = trained["dir"]
    sweep = {
        name: tmp_path / file
        for name, file in [
            ("table", "k_sweep.tsv"),
            ("choice", "k_choice.json"),
            ("q", "k_sweep_q.tsv"),
            ("plot", "k_sweep.png"),
        ]
    }
    call(
        clustering.k_sweep,
        input={
            **trained["features"],
            "cae_weights": d / "cae.pt",
            "cae_json": d / "cae.json",
            "latent": d / "latent.tsv",
        },
        output=sweep,
        params={
            "label_columns": ["pop", "super_pop"],
            "training": TRAINING,
            "clustering": {**CEC_KEYS, "kernel": "isotropic", "k_max": 5, "k_sweep_epochs": epochs},
            "device": "cpu",
        },
    )
    adm = {"q": tmp_path / "Q.tsv", "plot": tmp_path / "structure.png"}
    call(
        clustering.k_sweep_proportions,
        input={"q": sweep["q"], "choice": sweep["choice"]},
        output=adm,
        params={"k_sweep_epochs": epochs},
        wildcards={"cohort": "demo"},
    )
    assert adm["plot"].stat().st_size > 5000
    return read_json(sweep["choice"]), read_table(sweep["q"]), read_table(adm["q"])


def _assert_q_named_by_majority(q_table, expected, pops):
    """Q's rows sum to one, are ``expected`` (the rounding of the tables aside), and each cluster is named by
    the population most of the samples whose largest q it is carry."""
    values = q_table.drop(columns="sample").to_numpy()
    np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(values, expected, atol=5e-5)
    names = q_table.columns[1:].tolist()
    assert len(set(names)) == len(names)
    hard = expected.argmax(axis=1)
    for j, name in enumerate(names):
        top = pd.Series(pops[hard == j]).value_counts()
        if len(top):
            assert top[name.split("_")[0]] == top.max(), (name, top.to_dict())


def test_q_at_the_k_sweeps_k_is_the_q_of_its_cec_named_by_majority(trained, tmp_path, monkeypatch):
    runs = {}
    train_cec = deep.train_cec

    def recorded(cae, images, k, *args, **kwargs):
        runs[k] = train_cec(cae, images, k, *args, **kwargs)
        return runs[k]

    monkeypatch.setattr(deep, "train_cec", recorded)
    choice, sweep_q, q = _sweep_then_q(trained, tmp_path, epochs=1)
    k = choice["k"]
    assert sorted(runs) == [2, 3, 4, 5] and choice["q_source"] == "cec"
    assert (choice["label_column"], choice["k_labels"], choice["k_is_labels"]) == ("pop", 3, k == 3)
    assert sweep_q.columns.tolist() == ["sample", "pop", "cluster", *[f"q{j}" for j in range(k)]]
    assert q["sample"].tolist() == trained["samples"]["sample"].tolist()
    assert q.shape == (24, 1 + k)
    _assert_q_named_by_majority(q, runs[k].q, trained["samples"]["pop"].to_numpy())


def test_q_at_the_k_sweeps_k_without_cec_is_the_student_t_on_the_kmeans_centroids(trained, tmp_path):
    choice, _, q = _sweep_then_q(trained, tmp_path, epochs=0)
    k = choice["k"]
    assert choice["q_source"] == "kmeans" and q.shape == (24, 1 + k)
    latent = read_table(trained["dir"] / "latent.tsv").drop(columns="sample").to_numpy(dtype=np.float32)
    centroids = ksweep.kmeans(latent, k, seed=TRAINING["seed"]).cluster_centers_
    _assert_q_named_by_majority(q, ksweep.kmeans_q(latent, centroids), trained["samples"]["pop"].to_numpy())


def test_cluster_names_by_majority_with_suffixes():
    #          cluster: 0     1     2     3     4
    labels = ["CEU"] * 5 + ["CEU"] * 3 + ["YRI"] + ["YRI"] * 4 + ["JPT", "CHB", "CHB"]
    hard = [0] * 5 + [1] * 3 + [1] + [2] * 4 + [3, 3, 4]
    q = np.full((len(hard), 6), 0.02)
    q[np.arange(len(hard)), hard] = 0.9
    q[:, 5] = 0.0  # cluster 5: nobody's argmax; the most q mass of its column is YRI's
    q[9:13, 5] = 0.05
    q /= q.sum(axis=1, keepdims=True)
    # cluster 0: 5 CEU; 1: 3 CEU + 1 YRI -> CEU_2; 2: 4 YRI; 3: JPT + CHB tie -> CHB (sorted first);
    # 4: CHB -> CHB_2 (one CHB each: the lower cluster number keeps the plain name); 5: YRI_2 (by q mass)
    assert admixture.cluster_names(labels, q) == ["CEU", "CEU_2", "YRI", "CHB", "CHB_2", "YRI_2"]
    # a suffixed name that is a label of its own is skipped
    labels2 = ["A", "A", "A", "A_2"]
    q2 = np.eye(3)[[0, 1, 1, 2]] * 0.97 + 0.01
    assert admixture.cluster_names(labels2, q2) == ["A_3", "A", "A_2"]
    # the larger group of a label keeps the plain name
    q3 = np.eye(2)[[0, 1, 1, 1]] * 0.9 + 0.05
    assert admixture.cluster_names(["B"] * 4, q3) == ["B_2", "B"]


def test_q_matrix_renormalises_and_checks():
    q = np.array([[0.2, 0.3], [0.5, 0.5001]])
    table = admixture.q_matrix(["a", "b"], q, ["X", "Y"])
    np.testing.assert_allclose(table[["X", "Y"]].sum(axis=1), 1.0)
    np.testing.assert_allclose(table.loc[0, ["X", "Y"]].to_numpy(dtype=float), [0.4, 0.6])
    with pytest.raises(ValueError):
        admixture.q_matrix(["a", "b"], q, ["X"])


def test_structure_order_groups_samples_and_sorts_within():
    groups = np.array(["B", "A", "unassigned", "A", "B", "A"])
    q = np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5], [0.95, 0.05], [0.3, 0.7], [0.6, 0.4]])
    order, spans = admixture.structure_order(groups, q)
    # A is led by cluster 0, B by cluster 1, unassigned last; within A by its q0 descending
    assert spans == [("A", 0, 3), ("B", 3, 5), ("unassigned", 5, 6)]
    assert order.tolist() == [3, 1, 5, 0, 4, 2]
    # a group split between clusters: the block of its leading cluster (by mean share) first, each block
    # from the purest sample down
    q = np.array([[0.7, 0.3], [0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])
    order, spans = admixture.structure_order(["C"] * 4, q)
    assert order.tolist() == [2, 0, 1, 3] and spans == [("C", 0, 4)]


def test_projection_is_the_reference_pca():
    rng = np.random.default_rng(4)
    reference = rng.normal(size=(30, 5)) * [5, 3, 1, 0.5, 0.1]
    new = rng.normal(size=(6, 5))
    ref_xy, new_xy, explained = reference_projection(reference, new)
    centre = reference.mean(axis=0)
    _, s, vt = np.linalg.svd(reference - centre, full_matrices=False)
    for axis in range(2):
        sign = np.sign(ref_xy[:, axis] @ ((reference - centre) @ vt[axis]))
        np.testing.assert_allclose(ref_xy[:, axis], sign * (reference - centre) @ vt[axis], atol=1e-8)
        np.testing.assert_allclose(new_xy[:, axis], sign * (new - centre) @ vt[axis], atol=1e-8)
    np.testing.assert_allclose(explained, (s**2 / (s**2).sum())[:2])
    # a new sample identical to a reference sample lands on it
    _, same, _ = reference_projection(reference, reference[[7]])
    np.testing.assert_allclose(same[0], ref_xy[7], atol=1e-8)


def test_call_categories_put_outliers_first():
    cats = call_categories(["CEU", "unassigned", "YRI"], [False, False, True])
    assert cats.tolist() == ["CEU", "unassigned", "outlier"]


def test_predict_over_reference_draws_the_figure(trained, tmp_path):
    latent = read_table(trained["dir"] / "latent.tsv")
    new = latent.iloc[:5].copy()
    new["sample"] = [f"n{i}" for i in range(5)]
    write_table(new, tmp_path / "latent.tsv")
    predictions = pd.DataFrame(
        {
            "sample": new["sample"],
            "call": ["A", "B", "unassigned", "C", "A"],
            "outlier": ["False", "False", "False", "True", "False"],
        }
    )
    write_table(predictions, tmp_path / "predictions.tsv")
    call(
        predict.predict_over_reference,
        input={
            "reference_latent": trained["dir"] / "latent.tsv",
            "reference_samples": trained["features"]["samples"],
            "latent": tmp_path / "latent.tsv",
            "predictions": tmp_path / "predictions.tsv",
        },
        output={"plot": tmp_path / "over_reference.png"},
        params={"model_cohort": "demo", "label": "pop"},
        wildcards={"cohort": "demo_new"},
    )
    assert (tmp_path / "over_reference.png").stat().st_size > 10000
