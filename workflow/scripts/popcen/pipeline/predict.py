"""Rule of ``rules/predict.smk``: a new cohort's population probabilities from another cohort's classifier."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
import zarr

from popcen.classification.io import load_classifier
from popcen.classification.newcohort import accuracy_note, predict_new_cohort, usable_rows
from popcen.errors import PopcenInputError
from popcen.io import read_json, read_samples, read_variants, write_json, write_table
from popcen.representation import load_cae
from popcen.zarrio import read_alt_counts

log = logging.getLogger("popcen")


def predict(input, output, params, wildcards, threads, log):
    """Align the cohort's QC'd records (every contig) to the model cohort's variants and classify its samples:
    calibrated probabilities, the call at the thresholds (``unassigned`` below), the distance to the
    reference populations in the model cohort's CAE latent space with its ``outlier`` flag, and each
    sample's fraction of missing (imputed) model variants."""
    model, meta = load_classifier(input.weights, input.meta)
    cae, _ = load_cae(input.cae_weights, input.cae_json)
    calibration, reference = read_json(input.calibration), read_json(input.reference)
    train_variants = read_variants(input.model_variants)
    samples = _kept_samples(list(input.samples))
    torch.set_num_threads(max(1, threads))
    gn, new_variants = _usable_records(list(input.zarr), list(input.qc), samples["sample"].tolist())
    log.info("%s: %d samples, %d usable records", wildcards.cohort, len(samples), len(new_variants))
    predictions, matching, report = predict_new_cohort(
        model,
        meta,
        train_variants,
        gn,
        new_variants,
        samples,
        params.min_overlap,
        params.strand_ambiguous,
        source=f"cohort {wildcards.cohort} ({input.qc[0]} ...)",
        device=params.device,
        calibration=calibration,
        assign_threshold=params.assign_threshold,
        population_thresholds=dict(params.population_thresholds),
        cae=cae,
        reference=reference,
        min_af_correlation=params.min_af_correlation,
        af_mismatch=params.af_mismatch,
    )
    report.update(
        model_cohort=params.model_cohort,
        n_samples=len(samples),
        accuracy_where_labelled=accuracy_note(predictions, meta),
        temperature=calibration["temperature"],
        assign_threshold=params.assign_threshold,
        fraction_unassigned=float((predictions["call"] == "unassigned").mean()),
        outlier_cutoff=reference["cutoff"],
        fraction_outlier=float(predictions["outlier"].mean()),
        median_missing_fraction=float(predictions["missing_fraction"].median()),
    )
    log.info("overlap: %s", report)
    write_table(predictions, output.predictions)
    write_table(matching, output.matching)
    write_json(report, output.overlap)


def _kept_samples(paths: list[str]) -> pd.DataFrame:
    """The cohort's kept samples (QC's per-contig ``samples.tsv``); every contig must keep the same ones."""
    first = read_samples(paths[0])
    for other in paths[1:]:
        if read_samples(other)["sample"].tolist() != first["sample"].tolist():
            raise PopcenInputError(
                other, f"kept samples differ from {paths[0]}: every contig's VCF must hold the same samples"
            )
    return first


def _usable_records(zarr_paths: list[str], qc_tables: list[str], samples: list[str]):
    """Alt counts (samples, records) int8 (-1 missing) and the ``chrom, pos, ref, alt`` table of the usable
    records (:func:`popcen.classification.newcohort.usable_rows`) of every contig, in the order given."""
    blocks, tables = [], []
    for store_path, qc_path in zip(zarr_paths, qc_tables, strict=True):
        qc = read_variants(qc_path)
        rows = usable_rows(qc, qc_path)
        store = zarr.open_group(str(store_path), mode="r")
        if len(qc) != store["variants/POS"].shape[0]:
            raise PopcenInputError(
                qc_path, f"{len(qc)} QC rows for {store['variants/POS'].shape[0]} records in {store_path}"
            )
        blocks.append(read_alt_counts(store, rows, samples).T)
        tables.append(qc.iloc[rows][["chrom", "pos", "ref", "alt"]])
        log.info("%s: %d usable records of %d", qc_path, len(rows), len(qc))
    gn = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(samples), 0), np.int8)
    return gn, pd.concat(tables, ignore_index=True)
