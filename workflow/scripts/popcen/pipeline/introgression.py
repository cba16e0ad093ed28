"""Rules of ``rules/introgression.smk``: Neanderthal introgression by k-mers.

regions -> matched controls -> sequences -> k-mers -> models -> genes, plus embeddings, GC content and a
gene-overlap permutation test. The analysis is in ``popcen.introgression``, the figures in
``popcen.plots.introgression``. Heavy libraries (torch, sklearn, matplotlib, gensim, umap) are imported
inside the rule that needs them: every rule is its own process, and importing all of them costs seconds.
"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp

from popcen.errors import PopcenInputError
from popcen.introgression import controls, demo_inputs, genes, kmers, regions
from popcen.introgression import sequences as sq
from popcen.introgression.intervals import (
    read_bed3,
    read_genes,
    read_genome_file,
    select_biotypes,
    to_reference_contigs,
    write_bed,
    write_genome_file,
)
from popcen.introgression.reference import contig_sizes, open_fasta, scan_reference
from popcen.io import read_table, write_json, write_table


def _read_intervals(path) -> pd.DataFrame:
    """A table of intervals written by an earlier rule (regions, controls, sequences)."""
    return read_table(path, dtype={"chrom": str})


def _read_gene_table(path, biotypes, sizes: dict[str, int]) -> tuple[pd.DataFrame, dict]:
    """The gene table restricted to ``biotypes`` (``introgression.gene_biotypes``; empty: all) and to the
    reference's contigs, with the counts of what was dropped."""
    raw = read_genes(path)
    kept, n_biotype = select_biotypes(raw, biotypes, path)
    on_ref, counts = to_reference_contigs(kept, sizes, "gene table", path)
    return on_ref, {
        "genes_in_table": len(raw),
        "dropped_biotype": n_biotype,
        "absent_contig": counts["absent_contig"],
        "past_contig_end": counts["past_contig_end"],
    }


def _write_counts(counts: dict, path) -> None:
    """What was kept and dropped, one ``what, count`` row each."""
    write_table(pd.DataFrame({"what": list(counts), "count": list(counts.values())}), path)


def introgression_demo_inputs(input, output, params, wildcards, threads, log):
    """Synthetic reference (indexed), map and gene table; no biological signal (see demo_inputs)."""
    contigs, raw_map, gene_table = demo_inputs.synthetic_inputs(params.synthetic, params.seed)
    demo_inputs.write_fasta(contigs, output.fasta)
    open_fasta(output.fasta).close()  # builds the .fai now, not concurrently in later jobs
    raw_map.to_csv(output.map, sep="\t", header=False, index=False)
    gene_table.to_csv(output.genes, sep="\t", header=False, index=False)


def introgression_reference(input, output, params, wildcards, threads, log):
    """Contig sizes, assembly gaps (N runs) and base composition of the FASTA."""
    with open_fasta(input.fasta) as fa:
        gaps, composition = scan_reference(fa)
        write_genome_file(contig_sizes(fa), output.genome)
    write_bed(gaps, output.gaps)
    write_table(composition, output.composition)
    log.info(
        "reference: %d contigs, %d bp, %d gap runs (%d bp)",
        len(composition),
        composition["length"].sum(),
        len(gaps),
        (gaps["end"] - gaps["start"]).sum(),
    )


def introgression_regions(input, output, params, wildcards, threads, log):
    """Unique introgressed intervals on the reference, dropped rows counted."""
    from popcen.plots.introgression import plot_region_lengths

    raw, sizes = read_bed3(input.map), read_genome_file(input.genome)
    reg, counts = regions.prepare_regions(raw, sizes, input.map)
    write_bed(regions.introgressed_on_reference(raw, sizes), output.introgressed)
    write_bed(reg, output.bed, ("chrom", "start", "end", "region_id"))
    write_table(reg, output.tsv)
    _write_counts(counts, output.counts)
    write_table(regions.length_table(reg), output.lengths)
    plot_region_lengths(reg, output.lengths_png)


def introgression_controls(input, output, params, wildcards, threads, log):
    """One length- and chromosome-matched control per region (bedtools shuffle), GC-matched if asked.

    Controls avoid every introgressed interval on the reference (not only the analysed ones) and every gap.
    """
    reg = _read_intervals(input.regions)
    exclusion = controls.exclusion_intervals(
        read_bed3(input.introgressed), read_bed3(input.gaps, allow_empty=True)
    )
    write_bed(exclusion, output.exclusion)
    settings = params.controls
    with open_fasta(input.fasta) as fa:
        con = controls.draw_controls(
            reg,
            input.bed,
            input.genome,
            output.exclusion,
            params.seed,
            settings["no_overlap"],
            settings["gc_candidates"] if settings["gc_matched"] else 0,
            lambda table: sq.window_gc(fa, table, params.max_len),
        )
    write_bed(con, output.bed, ("chrom", "start", "end", "control_id"))
    write_table(con, output.tsv)
    log.info("controls: %d drawn (seed %d, gc_matched %s)", len(con), params.seed, settings["gc_matched"])


def introgression_sequences(input, output, params, wildcards, threads, log):
    """Region and control sequences, truncated to max_len; pairs where either holds an N dropped."""
    with open_fasta(input.fasta) as fa:
        table, seqs, counts = sq.paired_sequences(
            fa, _read_intervals(input.regions), _read_intervals(input.controls), params.max_len
        )
    if counts["kept_pairs"] == 0:
        raise PopcenInputError(input.fasta, "every region/control pair holds N; nothing left to classify")
    sq.write_fasta_gz(table["seq_id"], seqs, output.fasta)
    write_table(table, output.tsv)
    _write_counts(counts, output.counts)


def _read_sequences(fasta, tsv) -> tuple[pd.DataFrame, list[bytes]]:
    """The sequence table and the sequences, checked to list the same ids in the same order."""
    ids, seqs = sq.read_fasta(fasta)
    table = _read_intervals(tsv)
    if ids != table["seq_id"].tolist():
        raise RuntimeError(f"{fasta} and {tsv} list different sequences")
    return table, seqs


def introgression_kmers(input, output, params, wildcards, threads, log):
    """Sparse k-mer count matrix, its vocabulary (the columns), the top k-mers of each class."""
    from popcen.plots.introgression import plot_top_kmers

    table, seqs = _read_sequences(input.fasta, input.tsv)
    X, vocab = kmers.training_matrix(seqs, params.k, params.canonical)
    sp.save_npz(output.matrix, X)
    kmers.save_vocabulary(vocab, params.k, params.canonical, output.vocabulary)
    log.info(
        "k-mer matrix: %d sequences x %d k-mers (k=%d, canonical %s), %d non-zero",
        X.shape[0],
        X.shape[1],
        params.k,
        params.canonical,
        X.nnz,
    )
    top = kmers.top_kmers_per_class(
        X, table["label"].to_numpy(), kmers.kmer_strings(vocab, params.k), params.top_kmers
    )
    write_table(top, output.top)
    plot_top_kmers(top, output.top_png)


def introgression_models(input, output, params, wildcards, threads, log):
    """k-mer classifiers, a GC-only baseline and an MLP, fitted on whole chromosomes (or loci) and
    evaluated on held-out ones; the gene model saved for introgression_genes."""
    import torch

    from popcen.introgression import mlp, models
    from popcen.introgression.split import held_out_split
    from popcen.plots.introgression import plot_importances, plot_model_performance

    X = sp.load_npz(input.matrix).tocsr()
    table = _read_intervals(input.tsv)
    y = table["label"].to_numpy()
    vocab, k, _ = kmers.load_vocabulary(input.vocabulary)
    split = params.split
    train, test = held_out_split(table, y, split["by"], split["test_fraction"], params.seed, params.max_len)
    fitted, metrics, confusion, scores = models.fit_and_evaluate(
        X, table["gc"].to_numpy(), y, train, test, params.random_forest_trees, params.seed, threads
    )

    # The MLP through the shared training loop, evaluated like the others.
    net, scaler, result = mlp.train_mlp(
        X, y, train, params.mlp, params.seed, params.device, params.checkpoints, output.mlp_losses
    )
    p = mlp.mlp_scores(net, X[test], scaler, params.device)
    metrics, confusion, scores = models.add_model("mlp", y[test], p, len(train), metrics, confusion, scores)
    log.info(
        "mlp: accuracy %.3f, ROC AUC %.3f (%d epochs, %s)",
        metrics["accuracy"].iloc[-1],
        metrics["roc_auc"].iloc[-1],
        result.epochs_run,
        result.stop_reason,
    )
    torch.save(
        {
            "state_dict": {name: v.cpu() for name, v in net.state_dict().items()},
            "mean": torch.as_tensor(scaler[0]),
            "sd": torch.as_tensor(scaler[1]),
        },
        output.mlp,
    )
    write_json(
        {
            "n_features": X.shape[1],
            "hidden": params.mlp["hidden"],
            "dropout": params.mlp["dropout"],
            "vocabulary": str(input.vocabulary),
            "best_epoch": result.best_epoch,
            "device": result.device,
        },
        output.mlp_json,
    )

    metrics["split_by"] = split["by"]
    write_table(metrics, output.metrics)
    write_table(confusion, output.confusion)
    write_table(models.per_class_table(confusion), output.per_class)
    importances = models.forest_importances(fitted["random_forest"], kmers.kmer_strings(vocab, k))
    write_table(importances, output.importances)
    write_table(models.held_out_predictions(table, test, scores), output.predictions)
    joblib.dump(
        {
            "model": fitted[params.gene_model],
            "name": params.gene_model,
            "vocabulary": str(input.vocabulary),
            "n_features": X.shape[1],
        },
        output.gene_model,
    )
    plot_model_performance(y[test], scores, metrics, confusion, output.performance_png)
    plot_importances(importances, params.top_kmers, output.importances_png)


def introgression_genes(input, output, params, wildcards, threads, log):
    """The first gene_len bp of each gene scored by the saved model on the training vocabulary."""
    on_ref, ref_counts = _read_gene_table(input.genes, params.gene_biotypes, read_genome_file(input.genome))
    with open_fasta(input.fasta) as fa:
        table, seqs, counts = genes.gene_sequences(fa, on_ref, params.gene_len)
    saved = joblib.load(input.model)
    proba = genes.score_genes(
        saved["model"], seqs, *kmers.load_vocabulary(input.vocabulary), saved["n_features"]
    )
    ranked = genes.rank_genes(table.assign(gc=[sq.gc_fraction(s) for s in seqs]), proba)
    write_table(ranked, output.tsv)
    n_called = int((ranked["predicted_label"] == "introgressed").sum())
    log.info("%d of %d genes called introgressed by %s", n_called, len(ranked), saved["name"])
    _write_counts(
        {
            **ref_counts,
            **counts,
            "called_introgressed": n_called,
        },
        output.counts,
    )


def introgression_embedding(input, output, params, wildcards, threads, log):
    """Word2Vec k-mer vectors -> PCA -> UMAP, the random forest's most predictive k-mers highlighted."""
    from popcen.introgression.embedding import kmer_embedding
    from popcen.plots.introgression import plot_embedding

    _, seqs = sq.read_fasta(input.fasta)
    _, k, canonical = kmers.load_vocabulary(input.vocabulary)
    coords = kmer_embedding(seqs, k, canonical, params.embedding, params.seed)
    top = read_table(input.importances)["kmer"].head(params.top_kmers).tolist()
    coords["top_predictive"] = coords["kmer"].isin(top)
    write_table(coords, output.tsv)
    plot_embedding(coords, top, output.png)


def introgression_gc(input, output, params, wildcards, threads, log):
    """GC content of introgressed regions, controls, genes and the genome."""
    from popcen.introgression.gc import gc_groups, gc_summary
    from popcen.plots.introgression import plot_gc_content

    groups = gc_groups(_read_intervals(input.sequences), read_table(input.genes)["gc"].to_numpy())
    summary = gc_summary(groups, _read_intervals(input.composition))
    write_table(summary, output.tsv)
    plot_gc_content(groups, float(summary.set_index("set").loc["genome", "mean"]), output.png)


def introgression_permutation(input, output, params, wildcards, threads, log):
    """Genes overlapped by the introgressed loci against ``permutations`` shuffled copies of them."""
    from popcen.introgression import permutation
    from popcen.plots.introgression import plot_permutation

    reg = _read_intervals(input.regions)
    sizes = read_genome_file(input.genome)
    gene_table, _ = _read_gene_table(input.genes, params.gene_biotypes, sizes)
    loci = permutation.loci_for_shuffling(reg)  # the union of the introgressed intervals: what gets shuffled
    write_bed(loci, output.loci)  # bedtools shuffles this file
    observed = permutation.observed_overlaps(gene_table, loci, sizes)
    n = params.permutations
    # Seeds apart from the controls' (seed, seed+1, ...) so that no null set repeats a control set.
    null = permutation.null_distribution(
        loci,
        output.loci,
        input.genome,
        input.exclusion,
        gene_table,
        sizes,
        n,
        params.seed + 1_000_003,
        threads,
    )
    summary = permutation.summary(loci, observed, null, len(gene_table))
    tests = summary.iloc[0][["p_depletion", "p_enrichment", "p_two_sided", "direction"]].to_dict()
    log.info(
        "%d introgressed loci (union of %d intervals); genes overlapped: %d by them, %.1f on average by %d "
        "shuffled sets; %s: p(depletion) = %.4g, p(enrichment) = %.4g, two-sided p = %.4g",
        len(loci),
        len(reg),
        observed,
        null.mean(),
        n,
        tests["direction"],
        tests["p_depletion"],
        tests["p_enrichment"],
        tests["p_two_sided"],
    )
    write_table(pd.DataFrame({"permutation": np.arange(1, n + 1), "genes_overlapped": null}), output.null)
    write_table(summary, output.summary)
    plot_permutation(null, observed, tests, output.png)
