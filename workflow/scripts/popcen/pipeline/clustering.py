"""The rules of ``rules/clustering.smk``: train_cec, cluster_baselines, k_sweep, clustering_figures,
admixture_proportions, k_sweep_proportions."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from popcen import admixture
from popcen.clustering import deep, ksweep
from popcen.clustering.baselines import BaselineResult, run_baselines
from popcen.clustering.metrics import score_clustering, score_methods
from popcen.errors import PopcenInputError
from popcen.features import open_genotypes
from popcen.io import read_json, read_samples, read_table, write_json, write_table
from popcen.panel import fine_level
from popcen.pipeline.representation import fine_labels, read_cae_input, read_latent, set_threads
from popcen.plots.clustering import (
    plot_composition,
    plot_k_sweep,
    plot_losses,
    plot_structure,
    plot_tsne,
    tsne_embedding,
)
from popcen.representation import load_cae
from popcen.streaming import blocked_pca
from popcen.training import seed_everything

TSNE_PCA = 50  # principal components of the raw genotypes before their t-SNE (the customary 50)


def cluster_k(input, setting, labels, level: str) -> tuple[int, str]:
    """K of CEC and the baselines at one level and its source (``labels``, ``sweep``, ``config``), from the
    level's ``clustering.k`` setting; ``auto`` reads the K sweep's choice, input ``k_choice`` (which the
    rules have only then)."""
    k_choice = None
    if setting == "auto":
        if "k_choice" not in input.keys():
            raise PopcenInputError(
                None, "clustering.k: auto needs the K sweep's k_choice.json as input k_choice"
            )
        k_choice = read_json(input.k_choice)
    n_labels = len(np.unique(labels))
    if setting == "labels" and n_labels < 2:
        raise PopcenInputError(
            input.samples, f"label column {level!r} has a single value; nothing to cluster"
        )
    try:
        return ksweep.resolve_k(setting, n_labels, len(labels), k_choice)
    except ValueError as e:
        raise PopcenInputError(input.get("k_choice"), str(e)) from None


def k_source_text(source: str, level: str) -> str:
    """Where K came from, in words (figure titles)."""
    return {
        "labels": f"the number of {level} labels",
        "sweep": "the K sweep's choice",
        "config": "set in clustering.k",
    }.get(source, source)


def train_cec(input, output, params, wildcards, threads, log):
    """CEC from the cohort's CAE at one label level: weights, JSON (with the keys it ran with, its K and
    where that came from, its scores against the level's labels), hard and soft assignments, losses.

    K is set by ``clustering.k`` (or the level's override): ``labels`` (the number of the level's labels),
    ``auto`` (the K sweep's choice: input ``k_choice``) or a number.

    params: ``training`` (the shared section), ``clustering`` (the CEC keys of the section and ``k``,
    ``levels`` holding this level's override at most), ``device``, ``checkpoint_dir``.
    """
    set_threads(threads)
    level = wildcards.level
    clustering = deep.level_sections(params.clustering, level)
    cae, meta = load_cae(input.cae_weights, input.cae_json)
    _, samples, images, _ = read_cae_input(input, meta)  # images, or the store for a sequence CAE
    if level not in samples:
        raise PopcenInputError(input.samples, f"samples.tsv has no label column {level!r}")
    labels = samples[level].to_numpy()
    k, k_source = cluster_k(input, clustering.get("k", "labels"), labels, level)
    settings, clustering = deep.cec_sections(
        params.training, clustering, len(labels), k, meta["cae"]["latent_dim"]
    )
    log.info("CEC %s: preset %s (%s)", level, clustering["preset"], clustering["preset_reason"])
    t0 = time.perf_counter()
    outcome = deep.train_cec(
        cae,
        images,
        k,
        settings,
        clustering,
        device=params.device,
        stratify=labels,
        checkpoint_dir=params.checkpoint_dir,
        loss_tsv=output.losses,
    )
    seconds = time.perf_counter() - t0
    torch.save(outcome.model.state_dict(), output.weights)
    scores = score_clustering(labels, outcome.labels)
    write_json(
        {
            "level": level,
            "k": k,
            "k_source": k_source,
            "n_labels": int(len(np.unique(labels))),
            "cae": meta["cae"],
            "variant_index": meta["variant_index"],
            "clustering": clustering,
            "training": settings,
            "epochs_run": outcome.result.epochs_run,
            "stop_reason": outcome.result.stop_reason,
            "seconds": seconds,
            "device": outcome.result.device,
            "scores": scores,
        },
        output.config,
    )
    table = pd.DataFrame(
        {
            "sample": samples["sample"],
            level: labels,
            "cluster": outcome.labels,
            "init_cluster": outcome.init_labels,
        }
    )
    q = pd.DataFrame(outcome.q, columns=[f"q{j}" for j in range(k)])
    write_table(pd.concat([table, q], axis=1), output.assignments, float_format="%.5g")
    log.info("CEC %s K=%d (%s): %s", level, k, k_source, {m: round(v, 3) for m, v in scores.items()})


def cluster_baselines(input, output, params, wildcards, threads, log):
    """CEC, its starting clusters and every baseline on the same samples, scored against one label level:
    one metrics table (with the K used and where it came from), one table of everyone's assignments.

    params: ``k`` (the level's ``clustering.k``: ``labels``, ``auto`` with input ``k_choice``, or a number;
    it must give the K train_cec ran at), ``min_samples`` (DBSCAN, OPTICS), ``pca_components`` (PCA
    baselines), ``seed``.

    The genotype baselines take the blocked PCA of every variant, streamed from the int8 store: the
    genotype matrix is never loaded.
    """
    level = wildcards.level
    gn, samples = open_genotypes(input.genotypes), read_samples(input.samples)
    latent = read_latent(input.latent, samples)
    cec = read_table(input.assignments, dtype={level: str})
    if cec["sample"].tolist() != samples["sample"].tolist():
        raise PopcenInputError(
            input.assignments, "samples differ from the cohort's features; re-run train_cec"
        )
    labels = samples[level].to_numpy()
    cec_meta, cae_meta = read_json(input.cec_json), read_json(input.cae_json)
    k, k_source = cluster_k(input, params.k, labels, level)
    if (cec_meta["k"], cec_meta.get("k_source", "labels")) != (k, k_source):
        raise PopcenInputError(
            input.cec_json,
            f"CEC ran at K={cec_meta['k']} ({cec_meta.get('k_source', 'labels')}) but clustering.k gives "
            f"K={k} ({k_source}); re-run train_cec",
        )
    init = cec_meta["clustering"]["init"]  # this level's start, as train_cec ran it
    results = [
        BaselineResult(
            "cec",
            "latent",
            cec["cluster"].to_numpy(),
            cae_meta["seconds"] + cec_meta["seconds"],
            f"CAE + CEC training ({cec_meta['stop_reason']})",
        ),
        BaselineResult(
            f"cae_{init}",
            "latent",
            cec["init_cluster"].to_numpy(),
            np.nan,
            f"CEC's starting clusters ({init} on the CAE latent space)",
        ),
    ]
    results += run_baselines(
        latent,
        gn,
        k,
        seed=params.seed,
        min_samples=params.min_samples,
        pca_components=params.pca_components,
    )
    metrics = score_methods(labels, results, level, k=k, k_source=k_source)
    write_table(metrics, output.metrics, float_format="%.4f")
    log.info("K=%d (%s) at %s: CEC ARI %.3f", k, k_source, level, metrics["ARI"].iloc[0])
    assignments = {"sample": samples["sample"], level: labels, **{r.method: r.labels for r in results}}
    write_table(pd.DataFrame(assignments), output.assignments)


def k_sweep(input, output, params, wildcards, threads, log):
    """WCSS, NMI and G for K = 2 .. k_max: the table, the K picked and why (JSON), the figure, and the soft
    assignments at the K picked (``q``: sample, the fine label, cluster, q0 .. q<K-1>, as in
    ``cec_assignments.tsv``): the q of the sweep's CEC at that K, or with ``k_sweep_epochs: 0`` (no CEC)
    DEC's Student-t kernel on the k-means centroids (``q_source`` in the JSON: ``cec`` or ``kmeans``).

    params: ``label_columns`` (NMI against the fine level), ``training`` (the shared section),
    ``clustering`` (k_max, k_sweep_epochs and the section's CEC keys; no per-level override), ``device``.
    """
    set_threads(threads)
    training, clustering = params.training, params.clustering
    samples = read_samples(input.samples)
    latent = read_latent(input.latent, samples)
    labels = fine_labels(samples, params.label_columns)
    k_max = min(clustering["k_max"], len(samples) - 1)
    if k_max < 2:
        raise PopcenInputError(input.samples, f"{len(samples)} samples: too few for a K sweep")
    cec_fn = None
    if clustering["k_sweep_epochs"] > 0:
        cae, meta = load_cae(input.cae_weights, input.cae_json)
        _, _, images, _ = read_cae_input(input, meta)

        def cec_fn(k):
            settings, keys = deep.cec_sections(
                training, deep.level_sections(clustering, None), len(labels), k, meta["cae"]["latent_dim"]
            )
            settings["max_epochs"] = clustering["k_sweep_epochs"]
            seed_everything(settings["seed"])
            return deep.train_cec(
                cae, images, k, settings, keys, device=params.device, stratify=labels, progress=False
            )

    soft = {}
    table = ksweep.k_sweep(
        latent, range(2, k_max + 1), seed=training["seed"], labels=labels, cec_fn=cec_fn, soft=soft
    )
    choice = ksweep.choose_k(table)
    choice["q_source"] = "cec" if cec_fn is not None else "kmeans"
    q = soft[choice["k"]]
    assignments = {"sample": samples["sample"]}
    if labels is not None:
        level = fine_level(params.label_columns)
        choice["label_column"] = level
        choice["k_labels"] = int(len(np.unique(labels)))
        choice["k_is_labels"] = choice["k"] == choice["k_labels"]
        assignments[level] = labels
    assignments["cluster"] = q.argmax(axis=1)
    q_table = pd.DataFrame(q, columns=[f"q{j}" for j in range(q.shape[1])])
    write_table(pd.concat([pd.DataFrame(assignments), q_table], axis=1), output.q, float_format="%.5g")
    write_table(table, output.table)
    write_json(choice, output.choice)
    plot_k_sweep(table, choice, output.plot)


def clustering_figures(input, output, params, wildcards, threads, log):
    """Loss curves of the CAE and of CEC, t-SNE maps of the raw genotypes and of the latent features
    (coloured by label and by cluster), the label composition of each cluster. Clusters are named by their
    majority label; the titles give K and where it came from (input ``cec_json``).

    params: ``seed``, ``perplexity`` (of the t-SNE maps). The raw genotypes' map is the t-SNE of their 50
    leading principal components, a blocked PCA streamed from the int8 store.
    """
    level = wildcards.level
    gn, samples = open_genotypes(input.genotypes), read_samples(input.samples)
    latent = read_latent(input.latent, samples)
    assignments = read_table(input.assignments, dtype={level: str})
    labels, clusters = assignments[level].to_numpy(), assignments["cluster"].to_numpy()
    k = sum(c.startswith("q") for c in assignments.columns)
    k_note = f"K = {k}, {k_source_text(read_json(input.cec_json).get('k_source', 'labels'), level)}"
    plot_losses(
        {
            "CAE (reconstruction MSE)": read_table(input.cae_losses),
            f"CEC, K = {k} (σ·KL + (1−σ)·MSE)": read_table(input.cec_losses),
        },
        output.losses,
        title="Training and validation losses",
    )
    embeddings = {
        "raw genotypes": tsne_embedding(
            # t-SNE only needs a denoised input, not exact minor components: the range finder's cheap settings
            blocked_pca(gn, TSNE_PCA, seed=params.seed, n_iter=7, oversamples=10).scores,
            params.seed,
            params.perplexity,
            TSNE_PCA,
        ),
        "CAE latent features": tsne_embedding(latent, params.seed, params.perplexity),
    }
    plot_tsne(embeddings, labels, clusters, output.tsne, label_name=level, k_note=k_note)
    plot_composition(labels, clusters, output.composition, label_name=level, k_note=k_note)


def write_proportions(samples, labels, q, level, output, title, legend_title="CEC cluster") -> list[str]:
    """The Q matrix (``output.q``) of soft assignments ``q`` (n, K), each cluster named by its majority
    ``level`` label (``CEU``, ``CEU_2`` for a second cluster led by CEU), and its STRUCTURE plot
    (``output.plot``): one bar per sample, grouped by its label. Returns the cluster names."""
    names = admixture.cluster_names(labels, q)
    table = admixture.q_matrix(samples, q, names)
    write_table(table, output.q, float_format="%.6g")
    order, spans = admixture.structure_order(labels, q, last=())
    plot_structure(
        table.drop(columns="sample"),
        order,
        spans,
        output.plot,
        title=title,
        group_name=level,
        legend_title=legend_title,
    )
    return names


def admixture_proportions(input, output, params, wildcards, threads, log):
    """The cohort's Q matrix at one label level, CEC's soft assignments (``cec_assignments.tsv``) with each
    cluster named by its majority label (``CEU``, ``CEU_2`` for a second cluster led by CEU), and the
    STRUCTURE plot: one bar per sample, grouped by its label; the title gives K and where it came from."""
    level = wildcards.level
    assignments = read_table(input.assignments, dtype={level: str}, keep_default_na=False)
    q = admixture.cec_q(assignments)
    cec_meta = read_json(input.cec_json)
    if q.shape[1] != int(cec_meta["k"]):
        raise PopcenInputError(
            input.assignments,
            f"{q.shape[1]} soft assignments for a CEC of K={cec_meta['k']}; re-run train_cec",
        )
    k_note = f"K = {q.shape[1]}, {k_source_text(cec_meta.get('k_source', 'labels'), level)}"
    names = write_proportions(
        assignments["sample"],
        assignments[level].to_numpy(),
        q,
        level,
        output,
        title=f"{wildcards.cohort}: CEC ancestry proportions at {level} ({k_note})",
    )
    log.info("%s Q at %s: clusters %s", wildcards.cohort, level, names)


def k_sweep_proportions(input, output, params, wildcards, threads, log):
    """The cohort's Q matrix and STRUCTURE plot at the K the K sweep chose (``k_choice.json``), from the
    sweep's soft assignments at that K (``k_sweep_q.tsv``: its short CEC's q, or the Student-t kernel on the
    k-means centroids), clusters named by the fine level's majority label and samples grouped by that label,
    as :func:`admixture_proportions`; the title gives K and whether it is the number of labels."""
    choice = read_json(input.choice)
    level = choice.get("label_column")
    if level is None:
        raise PopcenInputError(input.choice, "the K sweep ran without labels: no clusters to name")
    assignments = read_table(input.q, dtype={level: str}, keep_default_na=False)
    q = admixture.cec_q(assignments)
    k, n_labels = int(choice["k"]), int(choice["k_labels"])
    if q.shape[1] != k:
        raise PopcenInputError(
            input.q, f"{q.shape[1]} soft assignments for the K sweep's K={k}; re-run k_sweep"
        )
    source = {"cec": "the sweep's CEC", "kmeans": "Student t on the k-means centroids"}[choice["q_source"]]
    relation = f"= the number of {level} labels" if k == n_labels else f"≠ the {n_labels} {level} labels"
    names = write_proportions(
        assignments["sample"],
        assignments[level].to_numpy(),
        q,
        level,
        output,
        title=f"{wildcards.cohort}: ancestry proportions at the K sweep's K = {k} ({relation}; q of {source})",
        legend_title={"cec": "CEC cluster", "kmeans": "k-means cluster"}[choice["q_source"]],
    )
    log.info("%s Q at the K sweep's K=%d: clusters %s", wildcards.cohort, k, names)
