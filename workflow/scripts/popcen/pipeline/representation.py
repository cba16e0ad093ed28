"""The rule of ``rules/representation.smk``: train_cae; and the reading of its inputs and outputs that the
clustering rules share (genotype images of the feature set, the latent table)."""

from __future__ import annotations

import time

import numpy as np
import torch

from popcen import representation as rep
from popcen.errors import PopcenInputError
from popcen.features import open_genotypes
from popcen.images import genotype_images
from popcen.io import read_samples, read_table, write_table
from popcen.panel import fine_level


def set_threads(threads: int) -> None:
    """One torch thread per core Snakemake gave the job: more threads than cores slow training tenfold."""
    torch.set_num_threads(max(int(threads), 1))


def read_images(input, max_variants: int | None = None, variant_index=None):
    """(alt-count store, samples table, genotype images, variant indices) of the rule's feature set
    (``input.genotypes``, ``input.samples``): the ``max_variants`` of highest variance (variances streamed in
    variant blocks), or the variants of ``variant_index`` (those a trained CAE saw). Only the image's
    variants are read from the store; the store is returned opened (a Zarr array, nothing loaded)."""
    gn, samples = open_genotypes(input.genotypes), read_samples(input.samples)
    if gn.shape[0] < 2 or gn.shape[1] < 1:
        raise PopcenInputError(
            input.genotypes,
            f"features hold {gn.shape[0]} samples x {gn.shape[1]} variants; "
            "clustering needs at least 2 samples and 1 variant",
        )
    images, kept = genotype_images(gn, max_variants or None, variant_index=variant_index)
    return gn, samples, images, kept


def fine_labels(samples, label_columns):
    """Each sample's label at the fine level (the first label column), None for a cohort without labels."""
    level = fine_level(label_columns)
    return samples[level].to_numpy() if level else None


def read_latent(path, samples) -> np.ndarray:
    """The (samples, latent_dim) float32 latent features of train_cae's ``latent.tsv``, checked to hold the
    samples of the cohort's samples table in the same order."""
    table = read_table(path)
    if table["sample"].tolist() != samples["sample"].tolist():
        raise PopcenInputError(
            path, "samples differ from the cohort's features/samples.tsv; re-run train_cae"
        )
    return table.drop(columns="sample").to_numpy(dtype=np.float32)


def train_cae(input, output, params, wildcards, threads, log):
    """The CAE of a cohort's genotype images: weights + JSON, latent features of every sample, losses.

    params: ``training`` (the shared section), ``representation`` (the section, its ``training`` keys
    over the shared ones), ``label_columns`` (the validation split is stratified by the fine level),
    ``device``, ``checkpoint_dir`` (kept outside the outputs so that an interrupted run resumes).
    """
    set_threads(threads)
    representation = params.representation
    settings = rep.training_settings(params.training, representation.get("training"))
    _, samples, images, kept = read_images(input, representation["max_variants"])
    t0 = time.perf_counter()
    model, result = rep.train_cae(
        images,
        len(kept),
        settings,
        representation,
        device=params.device,
        stratify=fine_labels(samples, params.label_columns),
        checkpoint_dir=params.checkpoint_dir,
        loss_tsv=output.losses,
    )
    latent = rep.encode(model, images, device=params.device)
    rep.save_cae(
        model,
        output.weights,
        output.config,
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
    write_table(rep.latent_table(samples["sample"], latent), output.latent)
    log.info("CAE: %d epochs (%s), latent %s", result.epochs_run, result.stop_reason, latent.shape)
