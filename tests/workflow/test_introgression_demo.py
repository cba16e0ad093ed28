"""The introgression demo: a synthetic genome WITHOUT biological signal must give chance-level results."""

import pandas as pd
import pytest
import yaml
from scipy.stats import binom

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
    # Accuracy of a no-signal classifier on n held-out sequences is ~Binomial(n, 0.5)/n: it must fall in the
    # central 99.9 % interval (a split that leaked overlapping intervals could push it out).
    for _, row in metrics.iterrows():
        lo, hi = binom.interval(0.999, int(row["n_test"]), 0.5)
        assert lo / row["n_test"] <= row["accuracy"] <= hi / row["n_test"], row.to_dict()
    # Genes and regions are placed at random: no enrichment at the 5 % level.
    perm = pd.read_csv(d / "permutation/summary.tsv", sep="\t").iloc[0]
    assert perm["p_value"] >= 0.05
    genes = pd.read_csv(d / "genes/genes_ranked.tsv", sep="\t")
    assert len(genes) > 0 and set(genes["predicted_label"]) <= {"introgressed", "control"}
