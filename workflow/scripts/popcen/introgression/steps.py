"""One function per rule, on plain paths: what each ``workflow/scripts/introgression_*.py`` calls.

Kept apart from the analysis modules so that those stay pure (arrays and tables in, arrays and tables out)
and the file formats of the stage are written down in one place. Heavy libraries (torch, sklearn, matplotlib, gensim, umap) are
imported inside the step that needs them: every rule is its own process, and importing all of them costs
seconds per job.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp

from popcen.errors import PopcenInputError
from popcen.introgression import controls as ctl
from popcen.introgression import demo_inputs, genes, kmers, regions
from popcen.introgression import sequences as sq
from popcen.introgression.intervals import read_bed3, read_genes, to_reference_contigs, write_bed
from popcen.introgression.reference import contig_sizes, open_fasta, scan_reference
from popcen.introgression.split import group_split, split_groups

log = logging.getLogger("popcen")


def _tsv(df: pd.DataFrame, path) -> None:
    df.to_csv(path, sep="\t", index=False, float_format="%.6g")


def _counts_tsv(counts: dict, path) -> None:
    _tsv(pd.DataFrame({"what": list(counts), "count": list(counts.values())}), path)


def read_sizes(genome: str | Path) -> dict[str, int]:
    df = pd.read_csv(genome, sep="\t", header=None, names=["chrom", "size"], dtype={"chrom": str})
    return dict(zip(df["chrom"], df["size"].astype(int), strict=True))


def make_demo_inputs(cfg: dict, seed: int, fasta: str, bed: str, genes_bed: str) -> None:
    """Synthetic reference (indexed), map and gene table; no biological signal (see demo_inputs)."""
    rng = np.random.default_rng(seed)
    contigs = demo_inputs.synthetic_reference(rng, cfg["contigs"], cfg["contig_length"])
    demo_inputs.write_fasta(contigs, fasta)
    sizes = {c: len(s) for c, s in contigs.items()}
    open_fasta(fasta).close()  # builds the .fai now, not concurrently in later jobs
    demo_inputs.synthetic_map(rng, sizes, cfg["regions"], cfg["min_region"], cfg["max_region"]).to_csv(
        bed, sep="\t", header=False, index=False)
    demo_inputs.synthetic_genes(rng, sizes, cfg["genes"]).to_csv(genes_bed, sep="\t", header=False, index=False)


def scan_reference_step(fasta: str, genome: str, gaps_bed: str, composition_tsv: str) -> None:
    with open_fasta(fasta) as fa:
        gaps, comp = scan_reference(fa)
        ctl.write_genome_file(contig_sizes(fa), genome)
    write_bed(gaps, gaps_bed)
    _tsv(comp, composition_tsv)
    log.info("reference: %d contigs, %d bp, %d gap runs (%d bp)", len(comp), comp["length"].sum(), len(gaps),
             (gaps["end"] - gaps["start"]).sum())


def regions_step(map_bed: str, genome: str, out_bed: str, out_tsv: str, all_bed: str, counts_tsv: str,
                 lengths_tsv: str, lengths_png: str) -> None:
    from popcen.introgression import plots

    raw, sizes = read_bed3(map_bed), read_sizes(genome)
    reg, counts = regions.prepare_regions(raw, sizes, map_bed)
    write_bed(regions.introgressed_on_reference(raw, sizes), all_bed)
    write_bed(reg, out_bed, ("chrom", "start", "end", "region_id"))
    _tsv(reg, out_tsv)
    _counts_tsv(counts, counts_tsv)
    _tsv(regions.length_table(reg), lengths_tsv)
    plots.region_lengths(reg, lengths_png)


def _bed3(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, names=["chrom", "start", "end"], usecols=[0, 1, 2],
                       dtype={"chrom": str})


def controls_step(regions_tsv: str, regions_bed: str, introgressed_bed: str, genome: str, gaps_bed: str, fasta: str,
                  cfg: dict, seed: int, exclusion_bed: str, out_bed: str, out_tsv: str) -> None:
    reg = pd.read_csv(regions_tsv, sep="\t", dtype={"chrom": str})
    # Controls avoid every introgressed interval on the reference (not only the analysed ones) and every gap.
    write_bed(ctl.exclusion_intervals(_bed3(introgressed_bed), _bed3(gaps_bed)), exclusion_bed)
    with open_fasta(fasta) as fa:
        def gc_of(table):
            return np.array([sq.gc_fraction(s) for s in sq.fetch_windows(fa, table, cfg["max_len"], desc="GC")])

        con = ctl.draw_controls(reg, Path(regions_bed), Path(genome), Path(exclusion_bed), seed,
                                cfg["controls"]["no_overlap"],
                                cfg["controls"]["gc_candidates"] if cfg["controls"]["gc_matched"] else 0, gc_of)
    write_bed(con, out_bed, ("chrom", "start", "end", "control_id"))
    _tsv(con, out_tsv)
    log.info("controls: %d drawn (seed %d, gc_matched %s)", len(con), seed, cfg["controls"]["gc_matched"])


def sequences_step(fasta: str, regions_tsv: str, controls_tsv: str, max_len: int, out_fa: str, out_tsv: str,
                   counts_tsv: str) -> None:
    reg = pd.read_csv(regions_tsv, sep="\t", dtype={"chrom": str})
    con = pd.read_csv(controls_tsv, sep="\t", dtype={"chrom": str})
    with open_fasta(fasta) as fa:
        table, seqs, counts = sq.paired_sequences(fa, reg, con, max_len)
    if counts["kept_pairs"] == 0:
        raise PopcenInputError(fasta, "every region/control pair holds N; nothing left to classify")
    sq.write_fasta_gz(table["seq_id"], seqs, out_fa)
    _tsv(table, out_tsv)
    _counts_tsv(counts, counts_tsv)


def kmers_step(seqs_fa: str, seqs_tsv: str, k: int, canonical: bool, n_top: int, out_npz: str, vocab_json: str,
               top_tsv: str, top_png: str) -> None:
    from popcen.introgression import plots

    ids, seqs = sq.read_fasta(seqs_fa)
    table = pd.read_csv(seqs_tsv, sep="\t", dtype={"chrom": str})
    if ids != table["seq_id"].tolist():
        raise RuntimeError(f"{seqs_fa} and {seqs_tsv} list different sequences")
    full = kmers.count_kmers(seqs, k, canonical)
    vocab = kmers.build_vocabulary(full)
    X = kmers.restrict(full, vocab)
    sp.save_npz(out_npz, X)
    kmers.save_vocabulary(vocab, k, canonical, vocab_json)
    log.info("k-mer matrix: %d sequences x %d k-mers (k=%d, canonical %s), %d non-zero", X.shape[0], X.shape[1],
             k, canonical, X.nnz)
    names = [kmers.kmer_string(c, k) for c in vocab]
    top = kmers.top_kmers_per_class(X, table["label"].to_numpy(), names, n_top)
    _tsv(top, top_tsv)
    plots.top_kmers(top, top_png)


def models_step(kmers_npz: str, vocab_json: str, seqs_tsv: str, cfg: dict, seed: int, device: str, threads: int,
                out: dict) -> None:
    """Fit and evaluate every model; ``out`` maps names (metrics, confusion, importances, predictions,
    gene_model, mlp, mlp_json, mlp_losses, performance_png, importances_png, checkpoints) to paths."""
    import torch

    from popcen.introgression import mlp, models, plots

    X = sp.load_npz(kmers_npz).tocsr()
    table = pd.read_csv(seqs_tsv, sep="\t", dtype={"chrom": str})
    y = table["label"].to_numpy()
    vocab, k, _ = kmers.load_vocabulary(vocab_json)
    names = [kmers.kmer_string(c, k) for c in vocab]
    groups = split_groups(table, cfg["split"]["by"])
    train, test = group_split(groups, y, cfg["split"]["test_fraction"], seed)
    log.info("split by %s: %d train / %d test sequences, %d / %d groups", cfg["split"]["by"], len(train),
             len(test), len(np.unique(groups[train])), len(np.unique(groups[test])))
    fitted, metrics, confusion, scores = models.fit_and_evaluate(
        X, table["gc"].to_numpy(), y, train, test, cfg["random_forest_trees"], seed, threads)

    # The MLP through the shared training loop, evaluated like the others.
    net, scaler, result = mlp.train_mlp(X, y, train, cfg["mlp"], seed, device, out["checkpoints"], out["mlp_losses"])
    p = mlp.mlp_scores(net, X[test], scaler, device)
    row, conf = models.evaluate("mlp", y[test], (p >= 0.5).astype(int), p)
    log.info("mlp: accuracy %.3f, ROC AUC %.3f (%d epochs, %s)", row["accuracy"], row["roc_auc"],
             result.epochs_run, result.stop_reason)
    metrics = pd.concat([metrics, pd.DataFrame([{**row, "n_train": len(train)}])], ignore_index=True)
    confusion = pd.concat([confusion, conf], ignore_index=True)
    scores["mlp"] = p
    torch.save({"state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
                "mean": torch.as_tensor(scaler[0]), "sd": torch.as_tensor(scaler[1])}, out["mlp"])
    Path(out["mlp_json"]).write_text(json.dumps({"n_features": X.shape[1], "hidden": cfg["mlp"]["hidden"],
                                                 "dropout": cfg["mlp"]["dropout"], "vocabulary": str(vocab_json),
                                                 "best_epoch": result.best_epoch, "device": result.device}, indent=1))

    metrics["split_by"] = cfg["split"]["by"]
    _tsv(metrics, out["metrics"])
    _tsv(confusion, out["confusion"])
    imp = models.forest_importances(fitted["random_forest"], names)
    _tsv(imp, out["importances"])
    preds = table.loc[test, ["seq_id", "label", "chrom", "start", "end"]].reset_index(drop=True)
    _tsv(pd.concat([preds, scores.reset_index(drop=True)], axis=1), out["predictions"])
    joblib.dump({"model": fitted[cfg["gene_model"]], "name": cfg["gene_model"], "vocabulary": str(vocab_json),
                 "n_features": X.shape[1]}, out["gene_model"])
    plots.model_performance(y[test], scores, metrics, confusion, out["performance_png"])
    plots.importances(imp, cfg["top_kmers"], out["importances_png"])


def genes_step(fasta: str, genes_path: str, genome: str, vocab_json: str, model_path: str, gene_len: int,
               out_tsv: str, counts_tsv: str) -> None:
    raw = read_genes(genes_path)
    on_ref, ref_counts = to_reference_contigs(raw, read_sizes(genome), "gene table", genes_path)
    with open_fasta(fasta) as fa:
        table, seqs, counts = genes.gene_sequences(fa, on_ref, gene_len)
    saved = joblib.load(model_path)
    X = kmers.matrix_on_vocabulary(seqs, vocab_json)  # the training columns, not a re-fitted vocabulary
    if X.shape[1] != saved["n_features"]:
        raise RuntimeError(f"gene matrix has {X.shape[1]} columns, the model was trained on {saved['n_features']}")
    proba = saved["model"].predict_proba(X)[:, 1] if len(table) else np.empty(0)
    ranked = genes.rank_genes(table.assign(gc=[sq.gc_fraction(s) for s in seqs]), proba)
    _tsv(ranked, out_tsv)
    n_called = int((ranked["predicted_label"] == "introgressed").sum())
    log.info("%d of %d genes called introgressed by %s", n_called, len(ranked), saved["name"])
    _counts_tsv({"genes_in_table": ref_counts["input"], "absent_contig": ref_counts["absent_contig"],
                 "past_contig_end": ref_counts["past_contig_end"], **counts, "called_introgressed": n_called},
                counts_tsv)


def embedding_step(seqs_fa: str, vocab_json: str, importances_tsv: str, cfg: dict, n_top: int, seed: int,
                   out_tsv: str, out_png: str) -> None:
    from popcen.introgression import embedding, plots

    _, seqs = sq.read_fasta(seqs_fa)
    _, k, canonical = kmers.load_vocabulary(vocab_json)
    ecfg = cfg["embedding"]
    if len(seqs) > ecfg["max_sequences"]:
        pick = np.sort(np.random.default_rng(seed).choice(len(seqs), ecfg["max_sequences"], replace=False))
        seqs = [seqs[i] for i in pick]
    log.info("Word2Vec on %d sequences (k=%d), then PCA and UMAP", len(seqs), k)
    vectors = embedding.word2vec_vectors(embedding.kmer_sentences(seqs, k, canonical), ecfg["vector_size"],
                                         ecfg["window"], ecfg["epochs"], seed)
    coords = embedding.project(vectors, ecfg["pca_components"], ecfg["umap_neighbors"], seed)
    top = pd.read_csv(importances_tsv, sep="\t")["kmer"].head(n_top).tolist()
    coords["top_predictive"] = coords["kmer"].isin(top)
    _tsv(coords, out_tsv)
    plots.embedding(coords, top, out_png)


def gc_step(seqs_tsv: str, genes_tsv: str, composition_tsv: str, out_tsv: str, out_png: str) -> None:
    from popcen.introgression import gc, plots

    table = pd.read_csv(seqs_tsv, sep="\t", dtype={"chrom": str})
    gene_gc = pd.read_csv(genes_tsv, sep="\t")["gc"].to_numpy()
    comp = pd.read_csv(composition_tsv, sep="\t", dtype={"chrom": str})
    groups = {"introgressed": table.loc[table["label"] == 1, "gc"].to_numpy(),
              "control": table.loc[table["label"] == 0, "gc"].to_numpy(), "gene": gene_gc}
    summary = gc.gc_summary(groups, comp)
    _tsv(summary, out_tsv)
    plots.gc_content(groups, float(summary.set_index("set").loc["genome", "mean"]), out_png)


def permutation_step(regions_tsv: str, genome: str, exclusion_bed: str, genes_path: str, n: int, seed: int,
                     threads: int, loci_bed: str, null_tsv: str, summary_tsv: str, out_png: str) -> None:
    from popcen.introgression import permutation, plots

    reg = pd.read_csv(regions_tsv, sep="\t", dtype={"chrom": str})
    sizes = read_sizes(genome)
    gene_table, _ = to_reference_contigs(read_genes(genes_path), sizes, "gene table", genes_path)
    loci = permutation.loci_for_shuffling(reg)  # the union of the introgressed intervals: what gets shuffled
    write_bed(loci, loci_bed)
    offsets = permutation.genome_offsets(sizes)
    gs, ge = permutation.linear(gene_table, offsets)
    observed = permutation.count_overlapping(gs, ge, *permutation.linear(loci, offsets))
    # Seeds apart from the controls' (seed, seed+1, ...) so that no null set repeats a control set.
    null = permutation.null_distribution(loci, Path(loci_bed), Path(genome), Path(exclusion_bed), gene_table,
                                         sizes, n, seed + 1_000_003, threads)
    p = permutation.empirical_p(observed, null)
    log.info("%d introgressed loci (union of %d intervals); genes overlapped: %d by them, %.1f on average by %d "
             "shuffled sets; p = %.4g", len(loci), len(reg), observed, null.mean(), n, p)
    _tsv(pd.DataFrame({"permutation": np.arange(1, n + 1), "genes_overlapped": null}), null_tsv)
    _tsv(pd.DataFrame([{"loci": len(loci), "loci_bp": int((loci["end"] - loci["start"]).sum()),
                        "observed_genes_overlapped": observed, "n_permutations": n, "null_mean": null.mean(),
                        "null_sd": null.std(ddof=1) if n > 1 else np.nan,
                        "n_null_ge_observed": int((null >= observed).sum()), "p_value": p,
                        "genes_on_reference": len(gene_table)}]), summary_tsv)
    plots.permutation(null, observed, p, out_png)
