"""Introgression details: the balanced held-out split, per-class MCC, the gene biotype filter."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import matthews_corrcoef, precision_recall_fscore_support

from popcen.errors import PopcenInputError
from popcen.introgression import models
from popcen.introgression.intervals import overlap_groups, read_genes, select_biotypes
from popcen.introgression.split import held_out_split, join_pairs, split_groups


def clustered_sequence_table(seed=0, n_loci=12):
    """A sequence table as introgression_sequences writes it: regions in loci of 1 to 5 overlapping
    intervals (haplotypes of one locus), each with one control elsewhere on the same chromosome that overlaps
    nothing. Grouping by overlap alone makes the loci big and the controls singletons."""
    rng = np.random.default_rng(seed)
    rows, pair = [], 0
    for locus in range(n_loci):
        base = 100_000 * locus
        for _ in range(rng.integers(1, 6)):
            start = base + rng.integers(0, 2_000)
            rows.append(("chr1", start, start + 5_000, 1, f"r{pair}"))
            control = 5_000_000 + 20_000 * pair
            rows.append(("chr1", control, control + 5_000, 0, f"r{pair}"))
            pair += 1
    table = pd.DataFrame(rows, columns=["chrom", "start", "end", "label", "pair"])
    return table.sample(frac=1, random_state=seed).reset_index(drop=True)  # no order to lean on


def test_loci_split_keeps_pairs_together_and_is_balanced():
    table = clustered_sequence_table()
    y = table["label"].to_numpy()
    overlap = overlap_groups(table[["chrom", "start", "end"]])
    for seed in range(20):
        train, test = held_out_split(table, y, "loci", 0.3, seed)
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(table)
        # classes equal in the test part (and so in the training part)
        assert (y[test] == 1).sum() == (y[test] == 0).sum() > 0
        assert (y[train] == 1).sum() == (y[train] == 0).sum() > 0
        # both members of every pair on one side
        side = pd.Series(np.isin(np.arange(len(table)), test)).groupby(table["pair"]).nunique()
        assert (side == 1).all()
        # no locus (overlapping intervals) straddles the split
        assert not set(overlap[train]) & set(overlap[test])


def test_overlap_groups_alone_would_unbalance_the_test_set():
    # What split.by: loci did before pairs were joined: the same split on overlap groups only gives test
    # sets with unequal classes for most seeds (so the balanced result above is the pairing's doing).
    from popcen.introgression.split import group_split

    table = clustered_sequence_table()
    y = table["label"].to_numpy()
    groups = overlap_groups(table[["chrom", "start", "end"]])
    unbalanced = 0
    for seed in range(20):
        _, test = group_split(groups, y, 0.3, seed)
        unbalanced += (y[test] == 1).sum() != (y[test] == 0).sum()
    assert unbalanced >= 10


def test_join_pairs_merges_groups_that_share_a_pair():
    # groups 0 and 2 share pair a; 2 and 3 share pair c; group 1 is alone with pair b
    groups = np.array([0, 2, 1, 1, 2, 3])
    pairs = np.array(["a", "a", "b", "b", "c", "c"])
    joined = join_pairs(groups, pairs)
    assert joined[0] == joined[1] == joined[4] == joined[5]
    assert joined[2] == joined[3] != joined[0]
    # by chromosome: a (hypothetical) control on another chromosome pulls that chromosome into the group
    table = pd.DataFrame(
        {
            "chrom": ["c1", "c2", "c3", "c3"],
            "start": 0,
            "end": 10,
            "label": [1, 0, 1, 0],
            "pair": list("aabb"),
        }
    )
    g = split_groups(table, "chromosome")
    assert g[0] == g[1] and g[2] == g[3] and g[0] != g[2]


def test_loci_are_the_overlaps_of_the_windows_the_models_see():
    # Two long regions overlap only past their first 1 kb: as whole intervals they are one locus, as the
    # windows the k-mer models read (the first max_len bp) they share no sequence and are two.
    table = pd.DataFrame(
        {
            "chrom": "c1",
            "start": [0, 1_500, 50_000, 60_000],
            "end": [5_000, 6_000, 55_000, 65_000],
            "label": [1, 1, 0, 0],
            "pair": ["a", "b", "a", "b"],
        }
    )
    whole, windowed = split_groups(table, "loci"), split_groups(table, "loci", max_len=1_000)
    assert len(set(whole)) == 1  # a-b overlap, and the pairs pull in both controls
    assert len(set(windowed)) == 2 and windowed[0] == windowed[2] and windowed[1] == windowed[3]
    train, test = held_out_split(table, table["label"].to_numpy(), "loci", 0.5, 0, max_len=1_000)
    assert sorted(table["pair"][test]) in (["a", "a"], ["b", "b"]) and len(train) == 2


def test_a_region_without_its_control_is_an_error():
    table = clustered_sequence_table().iloc[1:]  # one sequence dropped: its pair is no longer whole
    with pytest.raises(RuntimeError, match="unequal numbers"):
        held_out_split(table.reset_index(drop=True), table["label"].to_numpy(), "loci", 0.3, 0)


def test_per_class_mcc_is_one_vs_rest():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    pred = np.where(rng.random(200) < 0.7, y, 1 - y)
    pred[:30] = 1  # asymmetric errors: per-class precision and recall differ
    row, conf = models.evaluate("m", y, pred, pred.astype(float))
    assert row["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    table = models.per_class_table(conf).set_index("class")
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=[0, 1])
    for label, name in ((0, "control"), (1, "introgressed")):
        r = table.loc[name]
        assert r["mcc"] == pytest.approx(matthews_corrcoef(y == label, pred == label))
        assert (r["precision"], r["recall"], r["f1"], r["support"]) == pytest.approx(
            (precision[label], recall[label], f1[label], support[label])
        )
    assert table.loc["control", "recall"] != pytest.approx(table.loc["introgressed", "recall"])


def test_per_class_mcc_three_classes_and_several_models():
    # the table works from any long confusion table: one-vs-rest on three classes differs per class
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.integers(0, 3, 300))
    conf = pd.DataFrame(
        [
            {"model": m, "true": t, "predicted": p, "count": int(((y == t) & (pred == p)).sum())}
            for m in ("a", "b")
            for t in range(3)
            for p in range(3)
        ]
    )
    table = models.per_class_table(conf, {0: "x", 1: "y", 2: "z"})
    assert len(table) == 6 and table["model"].tolist() == ["a"] * 3 + ["b"] * 3
    for label, name in enumerate("xyz"):
        got = table[(table["model"] == "b") & (table["class"] == name)]["mcc"].item()
        assert got == pytest.approx(matthews_corrcoef(y == label, pred == label))
    # a class never predicted and never true: MCC 0, not NaN
    empty = models.per_class_table(conf[conf["true"] != 2].assign(predicted=lambda d: d["predicted"] % 2))
    assert empty["mcc"].notna().all()


GENES_BED = (
    "chr1\t100\t900\t+\tG1\tA\tprotein_coding\n"
    "chr1\t1000\t1900\t-\tG2\tB\tlincRNA\n"
    "chr1\t2000\t2900\t+\tG3\tC\tpseudogene\n"
    "chr2\t100\t900\t+\tG4\tD\tprotein_coding\n"
)


def test_biotype_filter_on_a_bed(tmp_path):
    (tmp_path / "g.bed").write_text(GENES_BED)
    g = read_genes(tmp_path / "g.bed")
    kept, dropped = select_biotypes(g, ["protein_coding"])
    assert kept["gene_id"].tolist() == ["G1", "G4"] and dropped == 2
    kept, dropped = select_biotypes(g, ["protein_coding", "lincRNA"])
    assert kept["gene_id"].tolist() == ["G1", "G2", "G4"] and dropped == 1
    kept, dropped = select_biotypes(g, [])  # [] keeps every gene
    assert len(kept) == 4 and dropped == 0
    with pytest.raises(PopcenInputError, match="lincRNA"):  # names what the table does have
        select_biotypes(g, ["miRNA"])


def test_biotype_filter_on_gtf_gene_type_and_gene_biotype(tmp_path):
    # GENCODE writes gene_type, Ensembl gene_biotype: both are read into the biotype column
    (tmp_path / "g.gtf").write_text(
        '1\tHAVANA\tgene\t101\t200\t.\t+\t.\tgene_id "G1"; gene_type "protein_coding"; gene_name "A";\n'
        '1\tHAVANA\tgene\t301\t400\t.\t+\t.\tgene_id "G2"; gene_type "lincRNA"; gene_name "B";\n'
        '1\tensembl\tgene\t501\t600\t.\t-\t.\tgene_id "G3"; gene_biotype "protein_coding"; gene_name "C";\n'
    )
    kept, dropped = select_biotypes(read_genes(tmp_path / "g.gtf"), ["protein_coding"])
    assert kept["gene_id"].tolist() == ["G1", "G3"] and dropped == 1


def test_kmer_map_has_a_tsne_beside_the_umap_that_keeps_clusters():
    from popcen.introgression.embedding import project

    # Three well-separated groups of 40 "k-mer vectors": in both 2-D maps every point's nearest neighbour
    # is in its own group.
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (3, 16))
    group = np.repeat(np.arange(3), 40)
    vectors = pd.DataFrame(
        centres[group] + rng.normal(0, 0.5, (120, 16)), index=[f"k{i}" for i in range(120)]
    )
    coords = project(vectors, pca_components=10, n_neighbors=15, seed=1, perplexity=20)
    assert list(coords.columns) == ["kmer", "pc1", "pc2", "umap1", "umap2", "tsne1", "tsne2"]
    assert coords["kmer"].tolist() == vectors.index.tolist()
    for x, y in (("tsne1", "tsne2"), ("umap1", "umap2")):
        xy = coords[[x, y]].to_numpy()
        d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        assert (group[d.argmin(axis=1)] == group).all(), x
    # the t-SNE is not a copy of the UMAP or of the first two components
    assert not np.allclose(coords[["tsne1", "tsne2"]], coords[["umap1", "umap2"]])
    assert not np.allclose(coords[["tsne1", "tsne2"]], coords[["pc1", "pc2"]])
