"""The genotype rules' functions (popcen.pipeline.genotypes) run through `call` on the hand-written VCF."""

import numpy as np
import pandas as pd
import pytest

from popcen.errors import PopcenInputError
from popcen.features import load_features, read_features
from popcen.pipeline import call, genotypes
from popcen.qc import REASONS, summary_table

from .test_qc import PANEL, RECORDS, THRESHOLDS, write_vcf

LABELS = ["pop", "super_pop"]
PRUNE = {"window": 10, "step": 5, "r2": 0.99, "iterations": 1, "fraction": 1.0, "seed": 1}


def qc_contig(tmp_path, contig):
    """vcf_to_zarr, variant_qc and ld_prune of one contig (the same hand VCF under another name)."""
    d = tmp_path / contig
    d.mkdir()
    vcf = write_vcf(d / "hand.vcf.gz")
    (tmp_path / "panel.tsv").write_text(PANEL)
    call(genotypes.vcf_to_zarr, input={"vcf": vcf}, output={"zarr": d / "hand.zarr"}, params={"region": None})
    qc = {
        "variants": d / "variants.tsv.gz",
        "samples": d / "samples.tsv",
        "alt_counts": d / "alt_counts.zarr",
    }
    call(
        genotypes.variant_qc,
        input={"zarr": d / "hand.zarr", "panel": tmp_path / "panel.tsv"},
        output=qc,
        params={"label_columns": LABELS, "populations": None, **THRESHOLDS},
    )
    kept = d / "kept.tsv"
    call(genotypes.ld_prune, input=qc, output={"kept": kept}, params=PRUNE, wildcards={"contig": contig})
    return qc, kept


def test_genotype_rules_chain_to_the_features(tmp_path):
    contigs = ["a", "b"]
    runs = [qc_contig(tmp_path, c) for c in contigs]
    qc = pd.read_csv(runs[0][0]["variants"], sep="\t")
    assert qc["status"].tolist() == [r[-1] for r in RECORDS]
    kept = pd.read_csv(runs[0][1], sep="\t")
    assert kept["record"].tolist() == [0, 9] and kept["id"].tolist() == ["rs1", "rs10"]

    summary = {"table": tmp_path / "qc/summary.tsv", "plot": tmp_path / "qc/summary.png"}
    call(
        genotypes.qc_summary,
        input={"variants": [r[0]["variants"] for r in runs], "kept": [r[1] for r in runs]},
        output=summary,
        params={"contigs": contigs},
    )
    table = pd.read_csv(summary["table"], sep="\t", index_col=0)
    assert table.index.tolist() == ["a", "b", "total"]
    assert table.loc["total", "records"] == 2 * len(RECORDS) and table.loc["a", "ld_pruned_kept"] == 2
    assert summary["plot"].stat().st_size > 1000

    features = {
        k: tmp_path / "features" / v
        for k, v in (
            ("genotypes", "genotypes.zarr"),
            ("variants", "variants.tsv"),
            ("samples", "samples.tsv"),
        )
    }
    call(
        genotypes.assemble_features,
        input={
            "alt_counts": [r[0]["alt_counts"] for r in runs],
            "kept": [r[1] for r in runs],
            "samples": [r[0]["samples"] for r in runs],
        },
        output=features,
        params={"label_columns": LABELS},
    )
    gn, variants, samples = read_features(**features)
    assert samples.columns.tolist() == ["sample", *LABELS] and samples["sample"].tolist() == [
        "S1",
        "S2",
        "S3",
        "S4",
        "S5",
    ]
    assert variants.columns.tolist() == ["chrom", "pos", "id", "ref", "alt", "af", "af_A", "af_B", "af_C"]
    assert variants["id"].tolist() == ["rs1", "rs10"] * 2
    # rs1: 0|0 0|1 1|1 0|1 0|0; rs10: 0|1 ./. 1|1 0|0 0/1
    assert gn[:, 0].tolist() == [0, 1, 2, 1, 0] and gn[:, 1].tolist() == [1, -1, 2, 0, 1]
    np.testing.assert_allclose(variants["af"], [0.4, 0.5, 0.4, 0.5])
    assert variants.loc[1, "af_A"] == 0.5  # S1 called, S2 missing
    for got, want in zip(load_features(tmp_path / "features"), (gn, variants, samples), strict=True):
        assert np.array_equal(got, want) if isinstance(want, np.ndarray) else got.equals(want)


def test_assemble_features_refuses_contigs_with_other_samples(tmp_path):
    (qc_a, kept_a), (qc_b, kept_b) = qc_contig(tmp_path, "a"), qc_contig(tmp_path, "b")
    qc_b["samples"].write_text(qc_b["samples"].read_text().replace("S5", "S6"))
    with pytest.raises(PopcenInputError, match="kept samples differ"):
        call(
            genotypes.assemble_features,
            input={
                "alt_counts": [qc_a["alt_counts"], qc_b["alt_counts"]],
                "kept": [kept_a, kept_b],
                "samples": [qc_a["samples"], qc_b["samples"]],
            },
            output={
                "genotypes": tmp_path / "g.zarr",
                "variants": tmp_path / "v.tsv",
                "samples": tmp_path / "s.tsv",
            },
            params={"label_columns": LABELS},
        )


def test_ld_prune_refuses_alt_counts_of_another_qc_run(tmp_path):
    qc, _ = qc_contig(tmp_path, "a")
    table = pd.read_csv(qc["variants"], sep="\t")
    table.loc[table["id"] == "rs10", "status"] = "low_maf"
    table.to_csv(qc["variants"], sep="\t", index=False)
    with pytest.raises(PopcenInputError, match="rerun variant_qc"):
        call(
            genotypes.ld_prune,
            input=qc,
            output={"kept": tmp_path / "k.tsv"},
            params=PRUNE,
            wildcards={"contig": "a"},
        )


def test_random_subset_of_the_pruned_variants(tmp_path):
    qc, _ = qc_contig(tmp_path, "a")
    call(
        genotypes.ld_prune,
        input=qc,
        output={"kept": tmp_path / "k.tsv"},
        params={**PRUNE, "fraction": 0.1},
        wildcards={"contig": "a"},
    )
    assert len(pd.read_csv(tmp_path / "k.tsv", sep="\t")) == 1  # at least one is kept


def test_summary_table_totals_every_status():
    statuses = {"x": pd.Series(["kept", "kept", "low_mac"]), "y": pd.Series(["indel"])}
    table = summary_table(statuses, {"x": 1, "y": 0})
    assert table.columns.tolist() == ["kept", *REASONS, "records", "ld_pruned_kept"]
    assert table.loc["total"].to_dict() == {
        **dict.fromkeys(["kept", *REASONS], 0),
        "kept": 2,
        "low_mac": 1,
        "indel": 1,
        "records": 4,
        "ld_pruned_kept": 1,
    }
    assert table.index.name == "contig"
