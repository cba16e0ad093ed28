"""Rules of ``rules/predict.smk``: a new cohort's population probabilities from another cohort's classifier
(predict), its ancestry proportions through the other cohort's CEC (predict_admixture), its samples over the
other cohort's reference (predict_over_reference)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
import zarr

from popcen.admixture import load_cec, new_cohort_q, q_matrix, structure_order
from popcen.classification.exclusion import ExclusionModel
from popcen.classification.io import load_classifier
from popcen.classification.newcohort import ContigRecords, accuracy_note, predict_new_cohort, usable_rows
from popcen.errors import PopcenInputError
from popcen.features import FeatureWriter, open_genotypes
from popcen.io import read_json, read_samples, read_table, read_variants, write_json, write_table
from popcen.pipeline.representation import read_latent
from popcen.plots.clustering import plot_structure
from popcen.plots.predict import call_categories, plot_over_reference, reference_projection
from popcen.representation import latent_table, load_cae

log = logging.getLogger("popcen")


def predict(input, output, params, wildcards, threads, log):
    """Align the cohort's QC'd records (every contig) to the model cohort's variants and classify its samples:
    calibrated probabilities, the call at the thresholds (``unassigned`` below), the distance to the
    reference population its genotypes fit best (:mod:`popcen.classification.exclusion`) with its
    ``outlier`` flag, and each
    sample's fraction of missing (imputed) model variants."""
    model, meta = load_classifier(input.weights, input.meta)
    cae, _ = load_cae(input.cae_weights, input.cae_json)
    calibration, reference = read_json(input.calibration), read_json(input.reference)
    with np.load(input.reference_counts) as counts:
        excluder = ExclusionModel.load(reference, counts)
    train_variants = read_variants(input.model_variants)
    samples = _kept_samples(list(input.samples))
    torch.set_num_threads(max(1, threads))
    gn, new_variants = _usable_records(list(input.zarr), list(input.qc), samples["sample"].tolist())
    log.info("%s: %d samples, %d usable records", wildcards.cohort, len(samples), len(new_variants))
    predictions, matching, report, arrays = predict_new_cohort(
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
        reference=(excluder, reference["cutoff"]),
        min_af_correlation=params.min_af_correlation,
        af_mismatch=params.af_mismatch,
        return_arrays=True,
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
    # For the rules that work on from the alignment: the CAE code of each sample (the figure over the
    # reference) and the aligned int8 counts (CEC's Q at each label level, rule predict_admixture).
    write_table(latent_table(samples["sample"], arrays.latent), output.latent, float_format="%.6g")
    write_aligned(output.aligned, arrays.aligned, meta["variant_index"], samples["sample"])


def write_aligned(path, aligned, variant_index, samples) -> None:
    """The aligned int8 counts (samples, model variants) as a feature-style Zarr store (``alt_count``), with
    the rows of the model cohort's variant table its columns are (``variant_index``) and the samples."""
    writer = FeatureWriter(path, len(aligned))
    writer.append(aligned)
    writer.array.attrs["variant_index"] = [int(i) for i in variant_index]
    writer.array.attrs["samples"] = [str(s) for s in samples]


def predict_admixture(input, output, params, wildcards, threads, log):
    """A predicted cohort's Q matrix at one label level: the model cohort's CEC (its fine-tuned encoder,
    centroids and kernel) on the cohort's genotypes aligned to the model's variants (rule predict's
    ``aligned.zarr``; a missing value takes the model cohort's mean), its clusters named as in the model
    cohort's own Q (input ``model_q``); the STRUCTURE plot, samples grouped by their call at the level."""
    torch.set_num_threads(max(1, threads))
    level = wildcards.level
    cec_meta = read_json(input.cec_json)
    aligned = open_genotypes(input.aligned)
    if list(aligned.attrs.get("variant_index", [])) != list(cec_meta["variant_index"]):
        raise PopcenInputError(
            input.aligned,
            f"aligned to other variants than the CEC of {params.model_cohort} at {level} saw; re-run predict",
        )
    predictions = read_samples(input.predictions)  # every column a string
    if list(aligned.attrs.get("samples", [])) != predictions["sample"].tolist():
        raise PopcenInputError(input.aligned, "samples differ from predictions.tsv; re-run predict")
    names = [c for c in read_table(input.model_q, nrows=0).columns if c != "sample"]
    if len(names) != int(cec_meta["k"]):
        raise PopcenInputError(
            input.model_q,
            f"{len(names)} clusters for a CEC of K={cec_meta['k']}; re-run admixture_proportions",
        )
    model_af = read_variants(input.model_variants)["af"].to_numpy(dtype=np.float64)[cec_meta["variant_index"]]
    cec = load_cec(input.cec_weights, cec_meta)
    q = new_cohort_q(cec, aligned, model_af, device=params.device)
    table = q_matrix(predictions["sample"], q, names)
    write_table(table, output.q, float_format="%.6g")
    group = _call_column(predictions, level)
    order, spans = structure_order(predictions[group].to_numpy(), q)
    plot_structure(
        table.drop(columns="sample"),
        order,
        spans,
        output.plot,
        title=f"{wildcards.cohort} through the CEC of {params.model_cohort} at {level} "
        f"(K = {cec_meta['k']}), grouped by the call ({group})",
        group_name=f"call ({group})",
    )
    log.info("%s at %s: Q of %d samples x %d clusters", wildcards.cohort, level, *q.shape)


def _call_column(predictions: pd.DataFrame, level: str) -> str:
    """The predictions column that groups a STRUCTURE plot at a level: the level's call (``call_<level>``
    at a coarse level, ``call`` at the fine one), else the most similar population, else the argmax."""
    for column in (f"call_{level}", "call", f"most_similar_{level}", "most_similar", "predicted"):
        if column in predictions.columns:
            return column
    raise PopcenInputError(None, "predictions.tsv has no call column; re-run predict")


def predict_over_reference(input, output, params, wildcards, threads, log):
    """The cohort's samples over the model cohort's reference samples, in the model cohort's CAE latent
    space projected on the first two principal axes of the reference's latent vectors: the reference in
    grey by population (input ``reference_samples``, column ``params.label``), the new samples coloured by
    their call (``outlier`` where flagged, else the call: a population or ``unassigned``)."""
    reference = read_samples(input.reference_samples)
    reference_latent = read_latent(input.reference_latent, reference)
    predictions = read_samples(input.predictions)  # every column a string
    latent = read_table(input.latent)
    if latent["sample"].tolist() != predictions["sample"].tolist():
        raise PopcenInputError(input.latent, "samples differ from predictions.tsv; re-run predict")
    ref_xy, new_xy, explained = reference_projection(
        reference_latent, latent.drop(columns="sample").to_numpy(dtype=np.float64)
    )
    outlier = None
    if "outlier" in predictions.columns:
        outlier = predictions["outlier"].str.lower() == "true"
    call = "call" if "call" in predictions.columns else "predicted"
    categories = call_categories(predictions[call], outlier)
    plot_over_reference(
        ref_xy,
        reference[params.label].to_numpy(),
        new_xy,
        categories,
        output.plot,
        explained=explained,
        title=f"{wildcards.cohort} over the reference of {params.model_cohort}: CAE latent space, "
        "PCA fitted on the reference",
        label_name=params.label,
    )
    log.info("%s: %s", wildcards.cohort, dict(zip(*np.unique(categories, return_counts=True), strict=True)))


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
    """The usable records (:func:`popcen.classification.newcohort.usable_rows`) of every contig, in the order
    given: a :class:`ContigRecords` reader of their int8 alt counts (only those that match a model variant
    are ever read) and their ``chrom, pos, ref, alt`` table."""
    stores, tables = [], []
    for store_path, qc_path in zip(zarr_paths, qc_tables, strict=True):
        qc = read_variants(qc_path)
        rows = usable_rows(qc, qc_path)
        store = zarr.open_group(str(store_path), mode="r")
        if len(qc) != store["variants/POS"].shape[0]:
            raise PopcenInputError(
                qc_path, f"{len(qc)} QC rows for {store['variants/POS'].shape[0]} records in {store_path}"
            )
        stores.append((store, rows))
        tables.append(qc.iloc[rows][["chrom", "pos", "ref", "alt"]])
        log.info("%s: %d usable records of %d", qc_path, len(rows), len(qc))
    return ContigRecords(stores, samples), pd.concat(tables, ignore_index=True)
