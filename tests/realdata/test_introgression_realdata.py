"""The introgression stage on real hg19 data (../shared/data/neanderthal): controls, then the whole target."""

import json
import subprocess

import joblib
import pandas as pd
import pytest
from sklearn.metrics import matthews_corrcoef

from popcen.introgression.intervals import merge_intervals, overlaps_any
from popcen.introgression.reference import open_fasta
from popcen.introgression.sequences import has_non_acgt
from popcen.pipeline import call
from popcen.pipeline.introgression import (
    introgression_controls,
    introgression_reference,
    introgression_regions,
)
from tests.conftest import make_workdir, run_snakemake

pytestmark = pytest.mark.realdata

FASTA = "hg19_chr20_first2Mb.fa.gz"
MAP = "Akey_intr_coords.bed"
GENES = "gencode.v19.genes.hg19.bed"


@pytest.fixture(scope="module")
def controls(neanderthal_data, tmp_path_factory):
    """The rules introgression_reference, _regions and _controls on the real map and partial reference."""
    d = tmp_path_factory.mktemp("controls")
    fasta = str(neanderthal_data / FASTA)
    reference = {"genome": d / "genome.txt", "gaps": d / "gaps.bed", "composition": d / "composition.tsv"}
    call(introgression_reference, input={"fasta": fasta}, output=reference)
    regions = {
        "bed": d / "regions.bed",
        "tsv": d / "regions.tsv",
        "introgressed": d / "introgressed.bed",
        "counts": d / "counts.tsv",
        "lengths": d / "lengths.tsv",
        "lengths_png": d / "lengths.png",
    }
    call(
        introgression_regions,
        input={"map": str(neanderthal_data / MAP), "genome": reference["genome"]},
        output=regions,
    )
    call(
        introgression_controls,
        input={
            "regions": regions["tsv"],
            "bed": regions["bed"],
            "introgressed": regions["introgressed"],
            "genome": reference["genome"],
            "gaps": reference["gaps"],
            "fasta": fasta,
        },
        output={"exclusion": d / "exclusion.bed", "bed": d / "controls.bed", "tsv": d / "controls.tsv"},
        params={
            "max_len": 10000,
            "seed": 1,
            "controls": {"no_overlap": False, "gc_matched": False, "gc_candidates": 10},
        },
    )
    return (
        pd.read_csv(d / "regions.tsv", sep="\t"),
        pd.read_csv(d / "controls.tsv", sep="\t"),
        pd.read_csv(d / "counts.tsv", sep="\t").set_index("what")["count"],
    )


def test_real_map_is_reduced_to_the_partial_reference(controls):
    regions, _, counts = controls
    # chr20 only (other contigs absent from the FASTA), and nothing past its 2 Mb
    assert set(regions["chrom"]) == {"chr20"} and regions["end"].max() <= 2_000_000
    assert counts["rows"] == 83601 and counts["kept"] == len(regions) == 21
    assert (
        counts["absent_contig"] + counts["past_contig_end"] + counts["kept"] + counts["duplicates"] == 83601
    )


def test_real_controls_match_and_avoid(controls, neanderthal_data):
    regions, con, _ = controls
    assert len(con) == len(regions)
    assert sorted(con["length"]) == sorted(regions["length"])  # same length multiset
    assert (con["matched_region"] == regions["region_id"]).all()
    assert (con["chrom"] == regions["chrom"]).all()  # same chromosome, pair by pair
    assert (con["end"] - con["start"] == regions["length"]).all()
    raw = pd.read_csv(neanderthal_data / MAP, sep="\t", header=None, names=["chrom", "start", "end"])
    raw = raw[raw["chrom"] == "chr20"]
    ms, me = merge_intervals(raw["start"].to_numpy(), raw["end"].to_numpy())
    assert not overlaps_any(con["start"], con["end"], ms, me).any()  # zero overlap with ANY map interval
    with open_fasta(neanderthal_data / FASTA) as fa:
        for _, r in con.iterrows():  # no N anywhere in a control
            assert not has_non_acgt(fa.fetch(r["chrom"], int(r["start"]), int(r["end"])).upper().encode())


@pytest.mark.workflow
def test_whole_introgression_target_on_real_data(neanderthal_data, tmp_path):
    cfg = {
        "introgression": {
            "dataset": "chr20",
            "demo": False,
            "map": str(neanderthal_data / MAP),
            "fasta": str(neanderthal_data / FASTA),
            "genes": str(neanderthal_data / GENES),
            "max_len": 10000,
            "gene_len": 8800,
            "split": {"by": "loci", "test_fraction": 0.3},  # one chromosome: hold out loci instead
            "random_forest_trees": 50,
            "mlp": {"hidden": [16], "epochs": 5},
            "embedding": {"max_sequences": 40, "epochs": 2},
            "permutations": 50,
        }
    }
    wd = make_workdir(tmp_path, cfg)
    d = wd / "results" / "introgression" / "chr20"
    targets = [
        d / p
        for p in (
            "regions/lengths.png",
            "kmers/top_kmers.png",
            "models/metrics.tsv",
            "genes/genes_ranked.tsv",
            "embedding/embedding.png",
            "gc/gc_summary.tsv",
            "permutation/summary.tsv",
        )
    ]
    run_snakemake(["--directory", wd, "--cores", "2", *(t.relative_to(wd) for t in targets)])
    assert all(t.exists() for t in targets)
    seqs = pd.read_csv(d / "sequences/counts.tsv", sep="\t").set_index("what")["count"]
    assert seqs["pairs"] == 21 and seqs["dropped_region_has_N"] == 1 and seqs["kept_pairs"] == 20
    metrics = pd.read_csv(d / "models/metrics.tsv", sep="\t")
    assert set(metrics["model"]) == {
        "logistic_regression",
        "naive_bayes",
        "linear_svm",
        "random_forest",
        "gc_only",
        "mlp",
    }
    # The held-out loci are balanced by construction: as many controls as introgressed sequences, each
    # region with its own control (before, split.by: loci held out 9 introgressed and 1 control here).
    test = pd.read_csv(d / "models/test_predictions.tsv", sep="\t")
    seqs_table = pd.read_csv(d / "sequences/sequences.tsv", sep="\t")
    assert (test["label"] == 1).sum() == (test["label"] == 0).sum() >= 2
    assert (seqs_table["seq_id"].isin(test["seq_id"]).groupby(seqs_table["pair"]).nunique() == 1).all()
    assert (metrics["n_test"] == len(test)).all() and (metrics["n_train"] == 40 - len(test)).all()
    # Per-class MCC of the MLP, recomputed with sklearn from its held-out probabilities (called at 0.5).
    per_class = pd.read_csv(d / "models/per_class.tsv", sep="\t").set_index(["model", "class"])
    called = (test["mlp"] >= 0.5).astype(int)
    for label, name in ((1, "introgressed"), (0, "control")):
        expected = matthews_corrcoef(test["label"] == label, called == label)
        assert per_class.loc[("mlp", name), "mcc"] == pytest.approx(expected, abs=1e-5)
        assert per_class.loc[("mlp", name), "support"] == len(test) // 2
    mlp_row = metrics.set_index("model").loc["mlp"]
    assert mlp_row["accuracy"] == pytest.approx((called == test["label"]).mean(), abs=1e-5)
    assert mlp_row["mcc"] == pytest.approx(matthews_corrcoef(test["label"], called), abs=1e-5)

    # Genes: protein-coding only (gene_biotypes' default), on chr20's first 2 Mb.
    raw_genes = pd.read_csv(neanderthal_data / GENES, sep="\t", header=None)
    pc = raw_genes[
        (raw_genes[0] == "chr20") & (raw_genes[6] == "protein_coding") & (raw_genes[2] <= 2_000_000)
    ]
    assert len(pc) == 36  # awk '$1=="chr20" && $7=="protein_coding" && $3<=2000000' | wc -l
    genes = pd.read_csv(d / "genes/genes_ranked.tsv", sep="\t")
    assert (
        0 < len(genes) <= len(pc)
        and (genes["chrom"] == "chr20").all()
        and set(genes["biotype"]) == {"protein_coding"}
        and genes["p_introgressed"].is_monotonic_decreasing
    )
    assert set(genes["gene_id"]) <= set(pc[4])
    vocab = json.loads((d / "kmers/vocabulary.json").read_text())["kmers"]
    emb = pd.read_csv(d / "embedding/embedding.tsv", sep="\t")  # UMAP and t-SNE of every k-mer seen
    assert emb[["umap1", "umap2", "tsne1", "tsne2"]].notna().all().all() and emb["kmer"].is_unique
    assert joblib.load(d / "models/gene_model.joblib")["n_features"] == len(vocab)

    # Permutation test: the observed count equals bedtools' own count of protein-coding genes overlapping
    # the kept introgressed intervals, and the p-values follow from the saved null counts.
    perm = pd.read_csv(d / "permutation/summary.tsv", sep="\t").iloc[0]
    pc[[0, 1, 2]].to_csv(tmp_path / "pc_genes.bed", sep="\t", header=False, index=False)
    bedtools = subprocess.run(
        ["bedtools", "intersect", "-u", "-a", tmp_path / "pc_genes.bed", "-b", d / "regions/regions.bed"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert perm["observed_genes_overlapped"] == len(bedtools.splitlines()) > 0
    assert perm["genes_on_reference"] == len(pc)
    null = pd.read_csv(d / "permutation/null_counts.tsv", sep="\t")["genes_overlapped"].to_numpy()
    obs = perm["observed_genes_overlapped"]
    assert perm["n_permutations"] == len(null) == 50
    p_dep, p_enr = (1 + (null <= obs).sum()) / 51, (1 + (null >= obs).sum()) / 51
    assert perm["p_depletion"] == pytest.approx(p_dep, abs=1e-6)
    assert perm["p_enrichment"] == pytest.approx(p_enr, abs=1e-6)
    assert perm["p_two_sided"] == pytest.approx(min(1.0, 2 * min(p_dep, p_enr)), abs=1e-6)
    assert perm["direction"] == ("depletion" if p_dep < p_enr else "enrichment" if p_enr < p_dep else "none")
