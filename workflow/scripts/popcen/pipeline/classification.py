"""Rules of ``rules/classification.smk``: the folds, the cohort's classifier, its cross-validation at each
label level (with its figures), the calibration of its probabilities and calls, and the out-of-reference
distances of the training cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from popcen.batches import GenotypeData
from popcen.classification import exclusion
from popcen.classification.calibration import (
    MIN_TEMPERATURE,
    PROBA_FLOOR,
    assign_calls,
    assignment_summary,
    calibrate_proba,
    coarse_calls,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    proba_logits,
    reliability_table,
)
from popcen.classification.cv import from_fine_rows, summary_frame
from popcen.classification.io import save_classifier
from popcen.classification.metrics import label_map
from popcen.classification.model import cae_images
from popcen.classification.tables import fold_numbers, make_folds
from popcen.classification.train import TrainSettings, evaluate_cv, train_final, train_fold_cae
from popcen.errors import PopcenInputError
from popcen.features import open_genotypes, variant_subset_blocks
from popcen.io import read_json, read_samples, read_table, write_json, write_table
from popcen.panel import coarse_level, fine_level
from popcen.pipeline.representation import fine_labels
from popcen.plots.classification import plot_confusion, plot_f1_bars, plot_reliability, plot_roc
from popcen.representation import load_cae

# A sequence CAE's int8 input is read into memory up to this size (2,504 samples x 1.2 M variants), so that
# the classifier's many epochs decompress the store once; larger cohorts stream it every epoch. With the
# rule's other arrays it stays within the 8 GB a cohort-wide rule may take.
HOLD_INT8_BYTES = 3 * 1024**3


def classification_folds(input, output, params, wildcards, threads, log):
    """``folds.tsv``: the stratified folds (by ``params.label_column``) every classifier of the cohort is
    evaluated on."""
    samples = read_samples(input.samples)
    folds = make_folds(samples, params.label_column, params.n_folds, params.seed, input.samples)
    write_table(folds, output.folds)
    log.info("%d samples in %d folds stratified by %s", len(folds), params.n_folds, params.label_column)


def _classifier_inputs(input, params, threads):
    """(samples table, the CAE's input for the cohort (images, or the int8 store of a sequence CAE: held in
    memory up to :data:`HOLD_INT8_BYTES`), its variant rows, the CAE, training settings)."""
    gn, samples = (
        open_genotypes(input.genotypes),
        read_samples(input.samples),
    )  # only the CAE's variants are read
    cae, cae_meta = load_cae(input.cae_weights, input.cae_json)
    images, variant_index = cae_images(gn, cae_meta, cae.config.to_dict())
    if isinstance(images, GenotypeData):
        images = images.held(HOLD_INT8_BYTES)
    settings = TrainSettings.from_config(params.training, device=params.device)
    torch.set_num_threads(max(1, threads))
    return samples, images, variant_index, cae, settings


def train_classifier(input, output, params, wildcards, threads, log):
    """The cohort's classifier on the CAE encoder, trained on all labelled samples at the fine level."""
    samples, images, variant_index, cae, settings = _classifier_inputs(input, params, threads)
    fine, coarse = fine_level(params.label_columns), coarse_level(params.label_columns)
    model, meta, trials = train_final(
        images,
        samples,
        fine,
        settings,
        coarse,
        output.losses,
        cae.config.to_dict(),
        cae.state_dict(),
        variant_index,
    )
    save_classifier(model, output.weights, output.meta, meta)
    write_table(trials, output.trials)
    log.info("classifier over %d %s classes saved to %s", len(meta["labels"]), fine, output.weights)


def _fold_representation(input, params, samples, record: list, log):
    """Inductive CV: ``fold_representation(train_index, fold)`` for :func:`evaluate_cv`, a CAE trained on
    the fold's training samples with the ``params.fold_cae`` sections (``training``, ``representation``: those
    train_cae reads); each fold's facts are appended to ``record``."""
    gn = open_genotypes(input.genotypes)
    stratify = fine_labels(samples, params.label_columns)
    sections = params.fold_cae

    def fold_representation(train_index, fold):
        fitted = train_fold_cae(
            gn,
            train_index,
            sections["training"],
            sections["representation"],
            stratify=stratify,
            device=params.device,
        )
        if isinstance(fitted.data, GenotypeData):
            fitted.data = fitted.data.held(HOLD_INT8_BYTES)
        record.append({"fold": int(fold), **fitted.summary()})
        log.info(
            "fold %d: CAE on its %d training samples, %d variants, %d epochs (%s)",
            fold,
            len(fitted.train_index),
            len(fitted.variant_index),
            fitted.epochs_run,
            fitted.stop_reason,
        )
        return fitted

    return fold_representation


def evaluate_classifier(input, output, params, wildcards, threads, log):
    """Stratified k-fold CV of the classifier trained on the ``level`` column; a coarse level is also scored
    as the coarse class of the fine level's out-of-fold predictions.

    ``params.cv_representation``: ``transductive``, every fold's classifier reads the cohort's CAE (train_cae:
    variants and weights fitted on every sample, no labels); ``inductive``, each fold trains its own CAE on
    its training samples (``params.fold_cae``: the ``training`` and ``representation`` sections), so that
    its test samples are first seen at prediction. The mode is a column of ``metrics.tsv`` and the
    ``cv_representation`` of ``representation.json`` (with each fold's CAE when inductive)."""
    level, cohort = wildcards.level, wildcards.cohort
    mode = params.cv_representation
    folds_table = read_table(input.folds)
    fine, coarse = fine_level(params.label_columns), coarse_level(params.label_columns)
    about = {"cv_representation": mode, "level": level}
    if mode == "inductive":
        samples = read_samples(input.samples)
        settings = TrainSettings.from_config(params.training, device=params.device)
        torch.set_num_threads(max(1, threads))
        folds = fold_numbers(folds_table, samples, input.folds)
        fold_caes = []
        predictions, tables, trials = evaluate_cv(
            None,
            samples,
            level,
            folds,
            settings,
            None,
            None,
            coarse=coarse,
            fold_representation=_fold_representation(input, params, samples, fold_caes, log),
        )
        about["folds"] = fold_caes
    elif mode == "transductive":
        samples, images, variant_index, cae, settings = _classifier_inputs(input, params, threads)
        folds = fold_numbers(folds_table, samples, input.folds)
        predictions, tables, trials = evaluate_cv(
            images, samples, level, folds, settings, cae.config.to_dict(), cae.state_dict(), coarse=coarse
        )
        about["cae"] = {"weights": str(input.cae_weights), "n_variants": len(variant_index)}
    else:
        raise ValueError(f"classification.cv_representation must be transductive or inductive, not {mode!r}")
    metrics = summary_frame({level: tables}, "cae_classifier")
    if level != fine:
        fine_predicted = read_table(input.fine_predictions, dtype={"predicted": str})["predicted"].to_numpy()
        metrics = pd.concat(
            [metrics, from_fine_rows("cae_classifier", samples, fine_predicted, fine, level)],
            ignore_index=True,
        )
    metrics["cv_representation"] = mode
    for row in metrics.itertuples(index=False):
        log.info("%s %s %s = %.4f (%s CV)", row.model, row.level, row.metric, row.value, mode)

    write_json(about, output.representation)
    write_table(predictions, output.predictions)
    write_table(metrics, output.metrics)
    write_table(tables["per_class"], output.per_class)
    write_table(tables["confusion"], output.confusion, index=True)
    write_table(tables["confusion_normalized"], output.confusion_normalized, float_format="%.4f", index=True)
    write_table(tables["auc"], output.auc)
    write_table(trials, output.trials)
    plot_confusion(
        tables["confusion"],
        tables["confusion_normalized"],
        f"{cohort}: CAE classifier, {level}, out-of-fold ({mode} CV)",
        output.confusion_png,
    )
    plot_roc(
        tables["roc"],
        tables["auc"],
        f"{cohort}: one-vs-rest ROC per fold ({level}, {mode} CV)",
        output.roc_png,
    )
    plot_f1_bars(
        {"CAE classifier": tables["per_class"]}, f"{cohort}: F1 per {level} ({mode} CV)", output.f1_png
    )


def calibrate_classifier(input, output, params, wildcards, threads, log):
    """Temperature scaling of the ``level`` classifier fitted on its out-of-fold probabilities
    (``calibration.json``, read by predict), the reliability diagram before/after, and the calls at the
    configured thresholds: the CV predictions with calibrated probabilities, ``most_similar``,
    ``top_probability`` and ``call`` (``unassigned`` below the threshold), and what the threshold costs
    (``assignment.tsv``: fraction unassigned, accuracy and macro F1 among the assigned)."""
    level, cohort = wildcards.level, wildcards.cohort
    samples = read_samples(input.samples)
    pred = read_table(input.predictions, dtype={level: str, "predicted": str})
    if pred["sample"].astype(str).tolist() != samples["sample"].astype(str).tolist():
        raise PopcenInputError(
            input.predictions, "samples differ from features/samples.tsv; re-run evaluate_classifier"
        )
    p_columns = [c for c in pred.columns if c.startswith("p_")]
    labels = [c[2:] for c in p_columns]
    raw = pred[p_columns].to_numpy(dtype=np.float64)
    y = np.searchsorted(labels, pred[level].astype(str).to_numpy())
    logits = proba_logits(raw)
    temperature = fit_temperature(logits, y)
    calibrated = calibrate_proba(raw, temperature)
    before, after = reliability_table(raw, y), reliability_table(calibrated, y)
    quality = {
        "nll_raw": negative_log_likelihood(logits, y),
        "nll_calibrated": negative_log_likelihood(logits, y, temperature),
        "ece_raw": expected_calibration_error(before),
        "ece_calibrated": expected_calibration_error(after),
    }
    log.info("%s %s: temperature %.4f, %s", cohort, level, temperature, quality)
    if np.isclose(temperature, MIN_TEMPERATURE, rtol=1e-3):
        log.warning(
            "%s %s: the temperature stopped at its lower bound %g (out-of-fold predictions all or nearly all "
            "right): the probabilities are sharpened no further",
            cohort,
            level,
            MIN_TEMPERATURE,
        )
    default, per_label = params.assign_threshold, dict(params.population_thresholds)

    calls = assign_calls(calibrated, labels, default, per_label)
    table = pred[["sample", "fold", level]].copy()
    table = pd.concat([table, calls], axis=1)
    rows = [("cae_classifier", level, {"temperature": temperature, **quality, "assign_threshold": default})]
    rows.append(("cae_classifier", level, assignment_summary(pred[level], calls, labels)))
    fine, coarse = fine_level(params.label_columns), coarse_level(params.label_columns)
    if level == fine and coarse and coarse != fine:
        ccalls, clabels = coarse_calls(
            calibrated, labels, label_map(samples, fine, coarse), default, per_label
        )
        table[coarse] = samples[coarse].astype(str).to_numpy()
        for name in ccalls.columns:
            table[f"{name}_{coarse}"] = ccalls[name].to_numpy()
        rows.append(
            (f"cae_classifier_from_{fine}", coarse, assignment_summary(samples[coarse], ccalls, clabels))
        )
    for j, column in enumerate(p_columns):
        table[column] = calibrated[:, j].round(6)
    assignment = pd.DataFrame(
        [
            {"model": model, "level": lvl, "metric": metric, "value": value}
            for model, lvl, values in rows
            for metric, value in values.items()
        ]
    )
    for row in assignment.itertuples(index=False):
        log.info("%s %s %s = %.4f", row.model, row.level, row.metric, row.value)

    write_json(
        {
            "level": level,
            "labels": labels,
            "temperature": temperature,
            "proba_floor": PROBA_FLOOR,
            "n_samples": len(y),
            **quality,
        },
        output.calibration,
    )
    write_table(table, output.predictions)
    write_table(assignment, output.assignment)
    write_table(
        pd.concat([before.assign(probabilities="raw"), after.assign(probabilities="calibrated")]),
        output.reliability,
        float_format="%.6f",
    )
    plot_reliability(
        before, after, temperature, f"{cohort}: CAE classifier, {level}, out-of-fold", output.reliability_png
    )


def reference_distances(input, output, params, wildcards, threads, log):
    """The out-of-reference model of the training cohort (:mod:`popcen.classification.exclusion`): each
    population's allele counts at the model's variants (the CAE's, ``reference.npz``), its members'
    leave-one-out likelihood scores and the outlier cutoff, the ``params.quantile`` of their distances, each
    under the sample's out-of-fold most similar population (input ``oof_predictions``)
    (``reference.json``); every sample's leave-one-out distance (``reference_distances.tsv``). Streams the
    feature store twice, in variant blocks."""
    samples = read_samples(input.samples)
    labels = samples[params.label_column].astype(str).to_numpy()
    variant_index = np.asarray(read_json(input.cae_json)["variant_index"], dtype=np.int64)
    store = open_genotypes(input.genotypes)

    def blocks():
        return variant_subset_blocks(store, variant_index)

    model, d = exclusion.fit_exclusion(blocks, labels)
    oof = read_table(input.oof_predictions).set_index("sample")
    most_similar = oof.loc[samples["sample"], "predicted"].astype(str).to_numpy()
    distance, nearest = exclusion.distances(model, d, against=most_similar)
    cutoff = float(np.quantile(distance, params.quantile))
    outlier = distance > cutoff
    log.info(
        "%s: %d samples, %d variants; leave-one-out distance median %.3f, %.0f%% quantile %.3f (cutoff); "
        "%d beyond it",
        wildcards.cohort,
        len(samples),
        len(variant_index),
        float(np.median(distance)),
        100 * params.quantile,
        cutoff,
        int(outlier.sum()),
    )
    np.savez_compressed(output.counts, **model.arrays())
    write_json(
        {
            "score": "genotype likelihood under each population's allele frequencies (assignment test)",
            "label_column": params.label_column,
            "quantile": params.quantile,
            "cutoff": cutoff,
            "n_samples": len(samples),
            "n_variants": len(variant_index),
            **model.summary(),
        },
        output.reference,
    )
    table = pd.DataFrame(
        {
            "sample": samples["sample"].to_numpy(),
            params.label_column: labels,
            "most_similar": most_similar,
            "nearest": nearest,
            "distance": distance.round(6),
            "outlier": outlier,
        }
    )
    write_table(table, output.distances)
