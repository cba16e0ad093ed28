"""The rule of ``rules/representation.smk``: train_cae; and the reading of its inputs and outputs that the
clustering rules share (what the CAE reads of the feature set: genotype images or the int8 store for a
sequence CAE; the latent table)."""

from __future__ import annotations

import time

import numpy as np
import torch

from popcen import representation as rep
from popcen.batches import GenotypeData
from popcen.errors import PopcenInputError
from popcen.features import open_genotypes, read_variant_columns
from popcen.images import genotype_images, select_variants
from popcen.io import read_samples, read_table, write_table
from popcen.panel import fine_level


def set_threads(threads: int) -> None:
    """One torch thread per core Snakemake gave the job: more threads than cores slow training tenfold."""
    torch.set_num_threads(max(int(threads), 1))


def _open_features(input):
    """(alt-count store, samples table) of the rule's feature set, checked to hold something to learn from."""
    gn, samples = open_genotypes(input.genotypes), read_samples(input.samples)
    if gn.shape[0] < 2 or gn.shape[1] < 1:
        raise PopcenInputError(
            input.genotypes,
            f"features hold {gn.shape[0]} samples x {gn.shape[1]} variants; "
            "clustering needs at least 2 samples and 1 variant",
        )
    return gn, samples


def read_images(input, max_variants: int | None = None, variant_index=None):
    """(alt-count store, samples table, genotype images, variant indices) of the rule's feature set
    (``input.genotypes``, ``input.samples``): the ``max_variants`` of highest variance (variances streamed in
    variant blocks), or the variants of ``variant_index`` (those a trained CAE saw). Only the image's
    variants are read from the store; the store is returned opened (a Zarr array, nothing loaded)."""
    gn, samples = _open_features(input)
    images, kept = genotype_images(gn, max_variants or None, variant_index=variant_index)
    return gn, samples, images, kept


def read_sequence(input, max_variants: int | None = None, variant_index=None):
    """(alt-count store, samples table, :class:`popcen.batches.GenotypeData`, variant indices): what a
    sequence CAE reads. Every variant: the Zarr store itself, read in mini-batches (nothing loaded); with a
    cap (``max_variants``, highest variance, genome order kept) or a ``variant_index``, those columns,
    read into memory as int8."""
    gn, samples = _open_features(input)
    if variant_index is not None:
        kept = np.asarray(variant_index, dtype=np.int64)
    else:
        kept = select_variants(gn, max_variants or None)
    every = len(kept) == gn.shape[1] and np.array_equal(kept, np.arange(gn.shape[1]))
    data = GenotypeData.of(gn if every else read_variant_columns(gn, kept))
    return gn, samples, data, kept


def read_cae_input(input, cae_meta: dict):
    """(alt-count store, samples table, the CAE's input, variant indices) for a trained CAE (its JSON): its
    genotype images, or for a sequence CAE its :class:`popcen.batches.GenotypeData`, on its variants."""
    read = read_sequence if is_sequence(cae_meta["cae"]) else read_images
    return read(input, variant_index=cae_meta["variant_index"])


def is_sequence(cae_config: dict) -> bool:
    """Whether a CAE's saved hyper-parameters (its JSON's ``cae``) describe a sequence CAE."""
    return cae_config.get("architecture", "image") == "sequence"


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
    """The CAE of a cohort's genotypes: weights + JSON, latent features of every sample, losses.

    params: ``training`` (the shared section), ``representation`` (the section, its ``training`` keys
    over the shared ones; ``architecture``: genotype images, or the sequence of every variant streamed from
    the store), ``label_columns`` (the validation split is stratified by the fine level),
    ``device``, ``checkpoint_dir`` (kept outside the outputs so that an interrupted run resumes).
    """
    set_threads(threads)
    representation = params.representation
    settings = rep.training_settings(params.training, representation.get("training"))
    read = read_sequence if rep.model_architecture(representation) == "sequence" else read_images
    _, samples, data, kept = read(input, representation["max_variants"])
    t0 = time.perf_counter()
    model, result = rep.train_cae(
        data,
        len(kept),
        settings,
        representation,
        device=params.device,
        stratify=fine_labels(samples, params.label_columns),
        checkpoint_dir=params.checkpoint_dir,
        loss_tsv=output.losses,
    )
    latent = rep.encode(model, data, device=params.device)
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
