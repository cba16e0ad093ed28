"""The introgression demo: a synthetic genome WITHOUT biological signal must give chance-level results."""

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import binom

from popcen.configcheck import validate_config
from popcen.introgression.intervals import overlap_groups
from popcen.pipeline import call
from popcen.pipeline import introgression as rules
from tests.conftest import ROOT, make_workdir, run_snakemake

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
    # The permutation table: both tails and the two-sided p, recomputed here from the saved null counts.
    perm = pd.read_csv(d / "permutation/summary.tsv", sep="\t").iloc[0]
    null = pd.read_csv(d / "permutation/null_counts.tsv", sep="\t")["genes_overlapped"].to_numpy()
    obs, n = perm["observed_genes_overlapped"], len(null)
    assert n == perm["n_permutations"] == 200
    p_dep, p_enr = (1 + np.sum(null <= obs)) / (n + 1), (1 + np.sum(null >= obs)) / (n + 1)
    assert perm["p_depletion"] == pytest.approx(p_dep, abs=1e-6)
    assert perm["p_enrichment"] == pytest.approx(p_enr, abs=1e-6)
    assert perm["p_two_sided"] == pytest.approx(min(1.0, 2 * min(p_dep, p_enr)), abs=1e-6)
    assert perm["direction"] == ("depletion" if p_dep < p_enr else "enrichment" if p_enr < p_dep else "none")
    # Genes: protein-coding only (introgression.gene_biotypes' default), all of those long enough scored.
    genes = pd.read_csv(d / "genes/genes_ranked.tsv", sep="\t")
    assert len(genes) > 0 and set(genes["predicted_label"]) <= {"introgressed", "control"}
    assert set(genes["biotype"]) == {"protein_coding"}
    demo_genes = pd.read_csv(d.parent / "demo_inputs/genes.bed", sep="\t", header=None)
    gene_len = yaml.safe_load((wd / "config/config.yaml").read_text())["introgression"]["gene_len"]
    expected = ((demo_genes[6] == "protein_coding") & (demo_genes[2] - demo_genes[1] >= gene_len)).sum()
    counts = pd.read_csv(d / "genes/counts.tsv", sep="\t").set_index("what")["count"]
    assert len(genes) + counts["dropped_lacking_a_base"] == expected
    assert counts["dropped_biotype"] == (demo_genes[6] != "protein_coding").sum() > 0
    assert perm["genes_on_reference"] == (demo_genes[6] == "protein_coding").sum()
    # The held-out set is balanced by construction: equal classes, each region with its own control.
    assert (test["label"] == 1).sum() == (test["label"] == 0).sum()
    seqs = pd.read_csv(d / "sequences/sequences.tsv", sep="\t")
    in_test = seqs["seq_id"].isin(test["seq_id"])
    assert (in_test.groupby(seqs["pair"]).nunique() == 1).all()
    per_class = pd.read_csv(d / "models/per_class.tsv", sep="\t")
    assert len(per_class) == 2 * len(metrics) and set(per_class["class"]) == {"introgressed", "control"}


def demo_permutation_test(d, seed: int, permutations: int) -> pd.Series:
    """The demo's inputs for ``seed`` and its permutation test: the rule functions from
    introgression_demo_inputs to introgression_permutation, called directly (no Snakemake, no models)."""
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    validate_config(cfg, ROOT / "config/schemas/introgression.schema.yaml")  # fills the defaults
    intro = cfg["introgression"]
    inputs = {k: d / f"inputs.{k}" for k in ("fasta", "map", "genes")}
    inputs["fai"] = d / "inputs.fasta.fai"
    call(
        rules.introgression_demo_inputs, output=inputs, params={"synthetic": intro["synthetic"], "seed": seed}
    )
    ref = {k: d / f"reference.{k}" for k in ("genome", "gaps", "composition")}
    call(rules.introgression_reference, input={"fasta": str(inputs["fasta"])}, output=ref)
    reg = {k: d / f"regions.{k}" for k in ("bed", "tsv", "introgressed", "counts", "lengths")}
    reg["lengths_png"] = d / "lengths.png"
    call(rules.introgression_regions, input={"map": inputs["map"], "genome": ref["genome"]}, output=reg)
    con = {k: d / f"controls.{k}" for k in ("exclusion", "bed", "tsv")}
    call(
        rules.introgression_controls,
        input={
            **reg,
            "regions": reg["tsv"],
            "genome": ref["genome"],
            "gaps": ref["gaps"],
            "fasta": str(inputs["fasta"]),
        },
        output=con,
        params={"controls": intro["controls"], "max_len": intro["max_len"], "seed": seed},
    )
    out = {k: d / f"permutation.{k}" for k in ("loci", "null", "summary")}
    out["png"] = d / "permutation.png"
    call(
        rules.introgression_permutation,
        input={
            "regions": reg["tsv"],
            "genome": ref["genome"],
            "exclusion": con["exclusion"],
            "genes": inputs["genes"],
        },
        output=out,
        params={"permutations": permutations, "seed": seed, "gene_biotypes": intro["gene_biotypes"]},
        threads=2,
    )
    return pd.read_csv(out["summary"], sep="\t").iloc[0]


def test_demo_permutation_test_is_not_significant_across_seeds(tmp_path):
    # Five demo genomes (seeds 1-5; seed 1 is the shipped demo): genes and regions placed at random, so the
    # two-sided p is uniform and P(>= 2 of 5 below 0.05) = 2.3 %. A null that is biased either way (too few
    # or too many genes hit by the shuffled sets) fails this. With every biotype, seed 1 alone shows a
    # depletion at two-sided p = 0.01; with protein-coding genes (the default) none of the five is below 0.05.
    rows = []
    for seed in range(1, 6):
        (tmp_path / str(seed)).mkdir()
        rows.append(demo_permutation_test(tmp_path / str(seed), seed, permutations=200))
    table = pd.DataFrame(rows)
    assert (table["p_two_sided"] < 0.05).sum() <= 1, table.to_string()
    assert (table["n_permutations"] == 200).all() and table["genes_on_reference"].gt(0).all()
