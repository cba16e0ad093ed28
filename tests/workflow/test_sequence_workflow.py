"""The tiny demo with the sequence CAE (``representation.architecture: sequence``, every variant): train_cae,
CEC at both label levels, the classifier's cross-validation and the prediction of the held-out cohort."""

import json

import numpy as np
import pandas as pd
import pytest

from popcen.features import mean_impute, read_genotypes
from popcen.representation import encode, load_cae
from tests.conftest import (
    TINY_DEMO_COHORT,
    TINY_NEW_COHORT,
    TINY_PIPELINE,
    deep_merge,
    make_workdir,
    run_snakemake,
)

pytestmark = pytest.mark.workflow

SEQUENCE = deep_merge(
    TINY_PIPELINE,
    {
        "representation": {"architecture": "sequence", "max_variants": 0, "patch": 4, "max_length": 64},
        # the default head's lr (1e-4 over 60 epochs) takes ~1,700 Adam steps on 1000 Genomes, 120 on 38
        # training samples: a larger step, so that the tiny cohort's head trains too
        "classification": {"ensemble": 1, "lr": 0.001},
    },
)


def read(path):
    return pd.read_csv(path, sep="\t", dtype={"sample": str})


@pytest.fixture(scope="module")
def sequence_run(tmp_path_factory):
    wd = make_workdir(tmp_path_factory.mktemp("sequence"), SEQUENCE, [TINY_DEMO_COHORT, TINY_NEW_COHORT])
    targets = [f"results/demo/clustering/{level}/cec_assignments.tsv" for level in ("pop", "super_pop")] + [
        "results/demo/classification/cv/pop/metrics.tsv",
        "results/demo_new/predict/predictions.tsv",
    ]
    run_snakemake(["--directory", wd, "--cores", "2", *targets], timeout=900)
    return wd


def test_the_sequence_cae_reads_every_variant(sequence_run):
    d = sequence_run / "results/demo"
    cae, meta = load_cae(d / "representation/cae.pt", d / "representation/cae.json")
    gn = read_genotypes(d / "features/genotypes.zarr")
    assert meta["cae"]["architecture"] == "sequence"
    assert meta["cae"]["n_variants"] == gn.shape[1] and meta["variant_index"] == list(range(gn.shape[1]))
    # the latent table is the model's code of the mean-imputed genotypes, computed here in memory
    latent = read(d / "representation/latent.tsv").drop(columns="sample").to_numpy()
    expected = encode(cae, (mean_impute(gn) / 2)[:, None, :], device="cpu")
    np.testing.assert_allclose(latent, expected, atol=1e-4)


@pytest.mark.parametrize("level", ["pop", "super_pop"])
def test_cec_and_the_classifier_run_on_it(sequence_run, level):
    d = sequence_run / "results/demo"
    samples = read(d / "features/samples.tsv")
    cec = read(d / f"clustering/{level}/cec_assignments.tsv")
    assert cec["sample"].tolist() == samples["sample"].tolist()
    assert json.loads((d / f"clustering/{level}/cec.json").read_text())["cae"]["architecture"] == "sequence"
    if level == "pop":
        metrics = read(d / "classification/cv/pop/metrics.tsv")
        f1 = metrics.query("level == 'pop' and metric == 'f1'")["value"]
        # the simulated populations are well separated: the classifier finds most of them
        assert len(f1) == 1 and float(f1.iloc[0]) > 0.5


def test_the_held_out_cohort_is_predicted(sequence_run):
    predictions = read(sequence_run / "results/demo_new/predict/predictions.tsv")
    proba = predictions[[c for c in predictions.columns if c.startswith("p_")]].to_numpy()
    assert len(predictions) > 0
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    # the sequence CAE's latent code gives the out-of-reference distance too
    assert {"call", "most_similar", "distance", "outlier", "missing_fraction"} <= set(predictions.columns)
    assert np.isfinite(predictions["distance"]).all()
