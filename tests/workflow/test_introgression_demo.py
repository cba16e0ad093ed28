"""The introgression demo: a synthetic genome WITHOUT biological signal must give chance-level results."""

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import binom

from popcen.introgression.intervals import overlap_groups
from tests.conftest import make_workdir, run_snakemake

pytestmark = pytest.mark.workflow


def test_demo_is_at_chance_level(tmp_path):
    # The project's demo config, except fewer permutations and trees to keep the test short: neither
    # changes what is expected (no signal), only the precision of the p-value and the forest.
    wd = make_workdir(tmp_path, {"introgression": {"permutations": 200, "random_forest_trees": 100}})
    dataset = yaml.safe_load((wd / "config/config.yaml").read_text())["introgression"]["dataset"]
    d = wd / "results" / "introgression" / dataset
    targets = [d / "models/metrics.tsv", d / "permutation/summary.tsv", d / "genes/genes_ranked.tsv"]
    run_snakemake(["--directory", wd, "--cores", "2", *(t.relative_to(wd) for t in targets)])

    metrics = pd.read_csv(d / "models/metrics.tsv", sep="\t")
    assert len(metrics) == 6
    # A no-signal classifier is right on each held-out sequence with probability 1/2, but sequences whose
    # windows overlap (haplotype twins share their first max_len bp) are right or wrong together, so the
    # independent units are the clusters of overlapping windows: accuracy must lie in the central 99.9 %
    # binomial interval for that many units. (A split that leaked overlapping intervals would push it out.)
    test = pd.read_csv(d / "models/test_predictions.tsv", sep="\t")
    max_len = yaml.safe_load((wd / "config/config.yaml").read_text())["introgression"]["max_len"]
    windows = test.assign(end=np.minimum(test["end"], test["start"] + max_len))
    n_units = len(np.unique(overlap_groups(windows[["chrom", "start", "end"]])))
    assert 0.8 * len(test) < n_units <= len(test)
    lo, hi = binom.interval(0.999, n_units, 0.5)
    for _, row in metrics.iterrows():
        assert row["n_test"] == len(test)
        assert lo / n_units <= row["accuracy"] <= hi / n_units, (row.to_dict(), n_units)
    # Genes and regions are placed at random: no enrichment at the 5 % level.
    perm = pd.read_csv(d / "permutation/summary.tsv", sep="\t").iloc[0]
    assert perm["p_value"] >= 0.05
    genes = pd.read_csv(d / "genes/genes_ranked.tsv", sep="\t")
    assert len(genes) > 0 and set(genes["predicted_label"]) <= {"introgressed", "control"}
