"""Interval arithmetic against brute force, contig naming, region/control/gene filters, split, p-value."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from popcen.errors import PopcenInputError
from popcen.introgression import controls, genes, permutation, regions
from popcen.introgression.intervals import (
    merge_intervals,
    overlap_groups,
    overlaps_any,
    reconcile_contigs,
    to_reference_contigs,
    write_genome_file,
)
from popcen.introgression.split import group_split


def random_intervals(rng, n, span=1000, max_len=60):
    s = rng.integers(0, span, n)
    return s, s + rng.integers(1, max_len, n)


def covered(starts, ends, span):
    mask = np.zeros(span + 100, bool)
    for s, e in zip(starts, ends, strict=True):
        mask[s:e] = True
    return mask


def test_merge_and_overlap_against_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(20):
        s, e = random_intervals(rng, 30)
        ms, me = merge_intervals(s, e)
        assert (covered(ms, me, 1000) == covered(s, e, 1000)).all()
        assert (ms[1:] > me[:-1]).all()  # disjoint and not touching
        qs, qe = random_intervals(rng, 50)
        brute = [
            any(a < ee and ss < b for ss, ee in zip(s, e, strict=True)) for a, b in zip(qs, qe, strict=True)
        ]
        assert overlaps_any(qs, qe, ms, me).tolist() == brute


def test_overlap_groups_are_connected_components():
    df = pd.DataFrame(
        {"chrom": ["a", "a", "a", "b", "a"], "start": [0, 5, 20, 0, 10], "end": [10, 8, 30, 10, 20]}
    )
    g = overlap_groups(df)
    # [0,10) overlaps [5,8); [10,20) only touches both neighbours (half-open: no overlap); b is apart
    assert g[0] == g[1] and len({g[0], g[2], g[3], g[4]}) == 4


def test_contig_naming_is_reconciled_and_dropped_rows_counted():
    assert reconcile_contigs(["20", "chr21", "X", "MT"], {"chr20": 1, "chr21": 1, "chrM": 1}) == {
        "20": "chr20",
        "chr21": "chr21",
        "X": None,
        "MT": "chrM",
    }
    raw = pd.DataFrame({"chrom": ["20", "20", "20", "1"], "start": [0, 0, 90, 5], "end": [50, 50, 120, 9]})
    reg, counts = regions.prepare_regions(raw, {"chr20": 100})
    assert reg["chrom"].tolist() == ["chr20"] and reg["length"].tolist() == [50]
    assert counts == {"rows": 4, "duplicates": 1, "absent_contig": 1, "past_contig_end": 1, "kept": 1}
    with pytest.raises(PopcenInputError, match="naming"):
        to_reference_contigs(raw.assign(chrom="scaffold_9"), {"chr20": 100}, "map")


def test_gene_filters():
    assert genes.lacks_a_base(b"NNNN") and genes.lacks_a_base(b"ACGACG") and not genes.lacks_a_base(b"ACGTN")
    ranked = genes.rank_genes(
        pd.DataFrame(
            {
                "gene_id": ["a", "b"],
                "symbol": ["A", "B"],
                "chrom": "c",
                "start": 0,
                "end": 1,
                "strand": "+",
                "biotype": "x",
            }
        ),
        np.array([0.2, 0.9]),
    )
    assert ranked["gene_id"].tolist() == ["b", "a"]
    assert ranked["predicted_label"].tolist() == ["introgressed", "control"]


def test_empirical_p_hand_example():
    # observed 7; null [3, 7, 9, 2]: two null values >= 7 -> (1 + 2) / (4 + 1); three <= 7 -> (1 + 3) / 5
    assert permutation.empirical_p(7, np.array([3, 7, 9, 2])) == pytest.approx(3 / 5)
    assert permutation.empirical_p(7, np.array([3, 7, 9, 2]), "depletion") == pytest.approx(4 / 5)
    assert permutation.empirical_p(100, np.arange(99)) == pytest.approx(1 / 100)
    assert permutation.empirical_p(100, np.arange(99), "depletion") == pytest.approx(100 / 100)
    assert permutation.empirical_p(-1, np.arange(99), "depletion") == pytest.approx(1 / 100)
    with pytest.raises(ValueError, match="tail"):
        permutation.empirical_p(1, np.arange(3), "both")


def test_tail_p_values_hand_examples():
    # high observed: enrichment tail 1/100, depletion tail 1; two-sided 2/100
    assert permutation.tail_p_values(100, np.arange(99)) == pytest.approx(
        {"p_depletion": 1.0, "p_enrichment": 0.01, "p_two_sided": 0.02, "direction": "enrichment"}
    )
    # low observed: 3 of 9 null values <= 2 -> (1+3)/10; 7 of 9 >= 2 -> 8/10; two-sided 2 * 0.4
    null = np.array([0, 1, 2, 5, 5, 6, 7, 8, 9])
    assert permutation.tail_p_values(2, null) == pytest.approx(
        {"p_depletion": 0.4, "p_enrichment": 0.8, "p_two_sided": 0.8, "direction": "depletion"}
    )
    # in the middle of a symmetric null: equal tails, two-sided capped at 1, no direction
    assert permutation.tail_p_values(5, np.array([4, 5, 6])) == pytest.approx(
        {"p_depletion": 0.75, "p_enrichment": 0.75, "p_two_sided": 1.0, "direction": "none"}
    )


def test_permutation_summary_row():
    loci = pd.DataFrame({"chrom": ["c1", "c2"], "start": [0, 100], "end": [50, 400]})
    genes_ = pd.DataFrame({"chrom": ["c1", "c1", "c2"], "start": [40, 60, 0], "end": [45, 70, 101]})
    observed = permutation.observed_overlaps(genes_, loci, {"c1": 1000, "c2": 1000})
    assert observed == 2  # c1:40-45 and c2:0-101; c1:60-70 lies past the locus
    row = permutation.summary(loci, observed, np.array([3, 2, 0, 1]), n_genes=3).iloc[0]
    assert row["loci"] == 2 and row["loci_bp"] == 350
    assert row["n_null_ge_observed"] == 2 and row["n_null_le_observed"] == 3  # [3, 2] and [2, 0, 1]
    assert row["p_enrichment"] == pytest.approx(3 / 5) and row["p_depletion"] == pytest.approx(4 / 5)
    assert row["p_two_sided"] == pytest.approx(1.0) and row["direction"] == "enrichment"
    assert "p_value" not in row  # the old one-sided column, which named no direction
    assert row["null_mean"] == pytest.approx(1.5) and row["genes_on_reference"] == 3


def test_group_split_keeps_groups_whole_and_both_classes():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 12, 200)
    labels = rng.integers(0, 2, 200)
    train, test = group_split(groups, labels, 0.25, seed=5)
    assert not set(groups[train]) & set(groups[test])
    assert len(train) + len(test) == 200 and 0.1 < len(test) / 200 < 0.5
    assert set(labels[test]) == {0, 1} and set(labels[train]) == {0, 1}
    with pytest.raises(PopcenInputError, match="loci"):
        group_split(np.zeros(10, int), labels[:10], 0.25, seed=1)


def test_closest_gc_picks_the_nearest_candidate():
    cand = np.array([[0.3, 0.5, np.nan], [0.9, 0.41, 0.2]])
    assert controls.closest_gc(np.array([0.52, 0.4]), cand).tolist() == [1, 1]


needs_bedtools = pytest.mark.skipif(shutil.which("bedtools") is None, reason="bedtools not installed")


@needs_bedtools
def test_shuffled_controls_keep_length_and_chrom_and_avoid_exclusion(tmp_path):
    sizes = {"c1": 20000, "c2": 15000}
    reg = pd.DataFrame(
        {
            "region_id": [f"r{i}" for i in range(6)],
            "chrom": ["c1"] * 4 + ["c2"] * 2,
            "start": [100, 150, 5000, 9000, 300, 7000],
            "end": [900, 1200, 5600, 9100, 2300, 7050],
        }
    )
    reg["length"] = reg["end"] - reg["start"]
    gaps = pd.DataFrame({"chrom": ["c1", "c2"], "start": [12000, 0], "end": [14000, 100]})
    excl = controls.exclusion_intervals(reg, gaps)
    for name, df, cols in [("r.bed", reg, ["chrom", "start", "end", "region_id"]), ("x.bed", excl, None)]:
        df.loc[:, cols or df.columns].to_csv(tmp_path / name, sep="\t", header=False, index=False)
    write_genome_file(sizes, tmp_path / "g.txt")
    con = controls.draw_controls(
        reg, tmp_path / "r.bed", tmp_path / "g.txt", tmp_path / "x.bed", seed=7, no_overlap=True
    )
    assert con["chrom"].tolist() == reg["chrom"].tolist()
    assert con["length"].tolist() == reg["length"].tolist()
    assert (con["end"] <= con["chrom"].map(sizes)).all()
    for chrom, sub in con.groupby("chrom"):
        e = excl[excl["chrom"] == chrom]
        assert not overlaps_any(sub["start"], sub["end"], e["start"].to_numpy(), e["end"].to_numpy()).any()
    again = controls.draw_controls(
        reg, tmp_path / "r.bed", tmp_path / "g.txt", tmp_path / "x.bed", seed=7, no_overlap=True
    )
    assert again.equals(con)  # reproducible from the seed


@needs_bedtools
def test_numpy_gene_count_equals_bedtools_intersect(tmp_path):
    rng = np.random.default_rng(11)
    sizes = {"c1": 5000, "c2": 3000}

    def table(n):
        chrom = rng.choice(["c1", "c2"], n)
        s = np.array([rng.integers(0, sizes[c] - 200) for c in chrom])
        return pd.DataFrame({"chrom": chrom, "start": s, "end": s + rng.integers(1, 200, n)})

    g, iv = table(80), table(30)
    g.to_csv(tmp_path / "g.bed", sep="\t", header=False, index=False)
    iv.to_csv(tmp_path / "i.bed", sep="\t", header=False, index=False)
    out = subprocess.run(
        ["bedtools", "intersect", "-u", "-a", tmp_path / "g.bed", "-b", tmp_path / "i.bed"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    off = permutation.genome_offsets(sizes)
    assert permutation.count_overlapping(*permutation.linear(g, off), *permutation.linear(iv, off)) == len(
        out.splitlines()
    )


@needs_bedtools
def test_gc_matched_controls_pick_the_closest_candidate(tmp_path):
    sizes = {"c1": 50000}
    reg = pd.DataFrame(
        {
            "region_id": ["r0", "r1", "r2"],
            "chrom": "c1",
            "start": [100, 2000, 30000],
            "end": [600, 2300, 31000],
        }
    )
    reg["length"] = reg["end"] - reg["start"]
    reg[["chrom", "start", "end", "region_id"]].to_csv(
        tmp_path / "r.bed", sep="\t", header=False, index=False
    )
    reg[["chrom", "start", "end"]].to_csv(tmp_path / "x.bed", sep="\t", header=False, index=False)
    write_genome_file(sizes, tmp_path / "g.txt")

    def fake_gc(table):  # any deterministic function of position will do to check the choice
        return (table["start"].to_numpy() % 101) / 100

    con = controls.draw_controls(
        reg,
        tmp_path / "r.bed",
        tmp_path / "g.txt",
        tmp_path / "x.bed",
        seed=3,
        no_overlap=False,
        gc_candidates=6,
        gc_of=fake_gc,
    )
    candidates = [
        controls.bedtools_shuffle(tmp_path / "r.bed", tmp_path / "g.txt", tmp_path / "x.bed", 3 + i)
        for i in range(6)
    ]
    for i in range(3):
        best = min((abs(fake_gc(c)[i] - fake_gc(reg)[i]), c["start"][i]) for c in candidates)
        assert abs(fake_gc(con)[i] - fake_gc(reg)[i]) == pytest.approx(best[0])
    assert (con["end"] - con["start"]).tolist() == reg["length"].tolist()


def test_group_split_takes_the_number_of_groups_closest_to_the_fraction():
    groups = np.repeat(np.arange(8), 10)  # 8 equal groups: 25 % is exactly 2 of them
    labels = np.tile([0, 1], 40)
    train, test = group_split(groups, labels, 0.25, seed=0)
    assert len(test) == 20 and len(train) == 60


def test_bad_bed_inputs_are_one_clear_error(tmp_path):
    from popcen.introgression.intervals import read_bed3, read_genes

    with pytest.raises(PopcenInputError, match="not found"):
        read_bed3(tmp_path / "missing.bed")
    (tmp_path / "bad.bed").write_text("chr1\t100\t50\n")
    with pytest.raises(PopcenInputError, match="end <= start"):
        read_bed3(tmp_path / "bad.bed")
    (tmp_path / "words.bed").write_text("chr1\tabc\t50\n")
    with pytest.raises(PopcenInputError, match="integers"):
        read_bed3(tmp_path / "words.bed")
    (tmp_path / "genes.bed").write_text("chr1\t1\t50\t+\tid\n")
    with pytest.raises(PopcenInputError, match="7 columns"):
        read_genes(tmp_path / "genes.bed")


def test_empty_bed_only_when_allowed_and_genome_file_round_trip(tmp_path):
    from popcen.introgression.intervals import read_bed3, read_genome_file

    (tmp_path / "gaps.bed").write_text("")
    with pytest.raises(PopcenInputError, match="no intervals"):
        read_bed3(tmp_path / "gaps.bed")
    empty = read_bed3(tmp_path / "gaps.bed", allow_empty=True)
    assert empty.empty and list(empty.columns) == ["chrom", "start", "end"]
    sizes = {"chr2": 500, "1": 1000}  # file order kept, contig names stay strings
    write_genome_file(sizes, tmp_path / "genome.txt")
    assert read_genome_file(tmp_path / "genome.txt") == sizes


def test_gtf_gene_lines_are_read_zero_based(tmp_path):
    from popcen.introgression.intervals import read_genes

    (tmp_path / "g.gtf").write_text(
        '20\tHAVANA\tgene\t101\t200\t.\t-\t.\tgene_id "G1"; gene_type "lincRNA"; gene_name "ABC";\n'
        '20\tHAVANA\texon\t101\t150\t.\t-\t.\tgene_id "G1"; gene_type "lincRNA"; gene_name "ABC";\n'
    )
    g = read_genes(tmp_path / "g.gtf")
    assert g.to_dict("records") == [
        {
            "chrom": "20",
            "start": 100,
            "end": 200,
            "strand": "-",
            "gene_id": "G1",
            "symbol": "ABC",
            "biotype": "lincRNA",
        }
    ]
