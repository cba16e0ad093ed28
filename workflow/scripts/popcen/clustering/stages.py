"""File-level steps of the representation and clustering rules: read the features, train, write tables.

Each function takes paths and plain settings dicts (the config sections) so that the rule scripts stay
thin and the benchmark and tests can call the same code.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from popcen.clustering.baselines import run_baselines
from popcen.clustering.deep import train_cec
from popcen.clustering.ksweep import choose_k, k_sweep
from popcen.clustering.metrics import score_clustering
from popcen.errors import PopcenInputError
from popcen.features import load_features
from popcen.images import genotype_images, scale_genotypes
from popcen.representation import encode, load_cae, save_cae, train_cae, training_settings
from popcen.training import seed_everything

log = logging.getLogger("popcen")


def set_threads(threads: int) -> None:
    """One torch thread per core Snakemake gave the job: more threads than cores slow training tenfold."""
    torch.set_num_threads(max(int(threads), 1))


def load_images(features: str | Path, max_variants: int | None = None, variant_index=None):
    """(alt counts, samples table, images, variant indices) of a cohort's feature folder."""
    gn, _, samples = load_features(features)
    if gn.shape[0] < 2 or gn.shape[1] < 1:
        raise PopcenInputError(
            features,
            f"features hold {gn.shape[0]} samples x {gn.shape[1]} variants; "
            "clustering needs at least 2 samples and 1 variant",
        )
    if variant_index is not None:
        images, _ = genotype_images(gn[:, variant_index], None)
        kept = np.asarray(variant_index)
    else:
        images, kept = genotype_images(gn, max_variants or None)
    return gn, samples, images, kept


def first_labels(samples: pd.DataFrame, label_columns: list[str]):
    return samples[label_columns[0]].to_numpy() if label_columns else None


def latent_table(samples: pd.DataFrame, latent: np.ndarray) -> pd.DataFrame:
    cols = {f"z{i + 1}": latent[:, i] for i in range(latent.shape[1])}
    return pd.DataFrame({"sample": samples["sample"].to_numpy(), **cols})


def read_latent(path: str | Path, samples: pd.DataFrame) -> np.ndarray:
    table = pd.read_csv(path, sep="\t", dtype={"sample": str})
    if table["sample"].tolist() != samples["sample"].tolist():
        raise PopcenInputError(
            path, "samples differ from the cohort's features/samples.tsv; re-run train_cae"
        )
    return table.drop(columns="sample").to_numpy(dtype=np.float32)


# --------------------------------------------------------------------------------------------- CAE
def run_train_cae(
    features,
    out: dict,
    training: dict,
    representation: dict,
    label_columns,
    device,
    checkpoint_dir,
    progress=True,
) -> None:
    """Rule train_cae: weights + JSON, latent features of every sample, loss table."""
    settings = training_settings(training, representation.get("training"))
    _, samples, images, kept = load_images(features, representation["max_variants"])
    t0 = time.perf_counter()
    model, result = train_cae(
        images,
        len(kept),
        settings,
        representation,
        device=device,
        stratify=first_labels(samples, label_columns),
        checkpoint_dir=checkpoint_dir,
        loss_tsv=out["losses"],
        progress=progress,
    )
    latent = encode(model, images, device=device)
    save_cae(
        model,
        out["weights"],
        out["config"],
        extra={
            "variant_index": kept.tolist(),
            "training": settings,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stop_reason": result.stop_reason,
            "device": result.device,
            "seconds": time.perf_counter() - t0,
        },
    )
    latent_table(samples, latent).to_csv(out["latent"], sep="\t", index=False, float_format="%.6g")


# --------------------------------------------------------------------------------------------- CEC
def level_sections(training: dict, clustering: dict, level: str) -> tuple[dict, dict]:
    """(training settings, clustering keys) of CEC at one label level: the clustering section with
    ``clustering.levels[level]`` on top, its ``training`` keys merged over the section's, those over the
    top-level ``training`` section."""
    override = dict(clustering.get("levels", {}).get(level, {}))
    stage_training = {**clustering.get("training", {}), **override.pop("training", {})}
    merged = {**clustering, **override, "training": stage_training}
    return training_settings(training, stage_training), merged


def run_train_cec(
    features,
    cae_weights,
    cae_json,
    out: dict,
    level: str,
    training: dict,
    clustering: dict,
    device,
    checkpoint_dir,
    progress=True,
) -> None:
    """Rule train_cec at one label level (K = number of its labels): hard and soft assignments."""
    settings, clustering = level_sections(training, clustering, level)
    cae, meta = load_cae(cae_weights, cae_json)
    _, samples, images, _ = load_images(features, variant_index=meta["variant_index"])
    if level not in samples:
        raise PopcenInputError(features, f"samples.tsv has no label column {level!r}")
    labels = samples[level].to_numpy()
    k = len(np.unique(labels))
    if k < 2:
        raise PopcenInputError(features, f"label column {level!r} has a single value; nothing to cluster")
    t0 = time.perf_counter()
    outcome = train_cec(
        cae,
        images,
        k,
        settings,
        clustering,
        device=device,
        stratify=labels,
        checkpoint_dir=checkpoint_dir,
        loss_tsv=out["losses"],
        progress=progress,
    )
    seconds = time.perf_counter() - t0
    torch.save(outcome.model.state_dict(), out["weights"])
    scores = score_clustering(labels, outcome.labels)
    Path(out["config"]).write_text(
        json.dumps(
            {
                "level": level,
                "k": k,
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
            indent=2,
            default=str,
        )
        + "\n"
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
    pd.concat([table, q], axis=1).to_csv(out["assignments"], sep="\t", index=False, float_format="%.5g")
    log.info("CEC %s K=%d: %s", level, k, {m: round(v, 3) for m, v in scores.items()})


# ---------------------------------------------------------------------------------------- baselines
def run_cluster_baselines(
    features,
    latent_tsv,
    assignments_tsv,
    cec_json,
    cae_json,
    out: dict,
    level: str,
    clustering: dict,
    seed: int,
) -> None:
    """Rule cluster_baselines: CEC and every baseline on the same samples, one metrics table."""
    gn, _, samples = load_features(features)
    latent = read_latent(latent_tsv, samples)
    cec = pd.read_csv(assignments_tsv, sep="\t", dtype={"sample": str, level: str})
    if cec["sample"].tolist() != samples["sample"].tolist():
        raise PopcenInputError(assignments_tsv, "samples differ from the cohort's features; re-run train_cec")
    labels = samples[level].to_numpy()
    k = len(np.unique(labels))
    cec_meta = json.loads(Path(cec_json).read_text())
    cae_meta = json.loads(Path(cae_json).read_text())
    init = cec_meta["clustering"]["init"]  # this level's start, as train_cec ran it
    methods = [
        (
            "cec",
            "latent",
            cec["cluster"].to_numpy(),
            cae_meta["seconds"] + cec_meta["seconds"],
            f"CAE + CEC training ({cec_meta['stop_reason']})",
        ),
        (
            f"cae_{init}",
            "latent",
            cec["init_cluster"].to_numpy(),
            np.nan,
            f"CEC's starting clusters ({init} on the CAE latent space)",
        ),
    ]
    for r in run_baselines(
        latent,
        scale_genotypes(gn),
        k,
        seed=seed,
        min_samples=clustering["min_samples"],
        pca_components=clustering["pca_components"],
    ):
        methods.append((r.method, r.space, r.labels, r.seconds, r.note))
    rows, assignments = [], {"sample": samples["sample"], level: labels}
    for method, space, pred, seconds, note in methods:
        rows.append(
            {
                "level": level,
                "k": k,
                "method": method,
                "space": space,
                **score_clustering(labels, pred),
                "clusters_found": len(np.unique(pred)),
                "seconds": seconds,
                "note": note,
            }
        )
        assignments[method] = pred
    pd.DataFrame(rows).to_csv(out["metrics"], sep="\t", index=False, float_format="%.4f")
    pd.DataFrame(assignments).to_csv(out["assignments"], sep="\t", index=False)


# ------------------------------------------------------------------------------------------ K sweep
def run_k_sweep(
    features,
    latent_tsv,
    cae_weights,
    cae_json,
    out: dict,
    label_columns,
    training: dict,
    clustering: dict,
    device,
    progress=True,
) -> dict:
    """Rule k_sweep: WCSS, NMI and G for K = 2 .. k_max; the K picked and why (JSON)."""
    gn, _, samples = load_features(features)
    latent = read_latent(latent_tsv, samples)
    labels = first_labels(samples, label_columns)
    k_max = min(clustering["k_max"], len(samples) - 1)
    if k_max < 2:
        raise PopcenInputError(features, f"{len(samples)} samples: too few for a K sweep")
    cec_fn = None
    if clustering["k_sweep_epochs"] > 0:
        cae, meta = load_cae(cae_weights, cae_json)
        images, _ = genotype_images(gn[:, meta["variant_index"]], None)
        settings = training_settings(training, clustering.get("training"))
        settings["max_epochs"] = clustering["k_sweep_epochs"]

        def cec_fn(k):
            seed_everything(settings["seed"])
            return train_cec(
                cae, images, k, settings, clustering, device=device, stratify=labels, progress=False
            )

    table = k_sweep(
        latent, range(2, k_max + 1), seed=training["seed"], labels=labels, cec_fn=cec_fn, progress=progress
    )
    choice = choose_k(table)
    if label_columns:
        choice["label_column"] = label_columns[0]
        choice["k_labels"] = int(len(np.unique(labels)))
    table.to_csv(out["table"], sep="\t", index=False, float_format="%.6g")
    Path(out["choice"]).write_text(json.dumps(choice, indent=2) + "\n")
    return choice
