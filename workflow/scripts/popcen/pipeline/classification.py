"""Rules of ``rules/classification.smk``: the folds, the cohort's classifier, and its cross-validation at each
label level (with its figures)."""

from __future__ import annotations

import pandas as pd
import torch

from popcen.batches import GenotypeData
from popcen.classification.cv import from_fine_rows, summary_frame
from popcen.classification.io import save_classifier
from popcen.classification.model import cae_images
from popcen.classification.tables import fold_numbers, make_folds
from popcen.classification.train import TrainSettings, evaluate_cv, train_final
from popcen.features import open_genotypes
from popcen.io import read_samples, read_table, write_table
from popcen.panel import coarse_level, fine_level
from popcen.plots.classification import plot_confusion, plot_f1_bars, plot_roc
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


def evaluate_classifier(input, output, params, wildcards, threads, log):
    """Stratified k-fold CV of the classifier trained on the ``level`` column; a coarse level is also scored
    as the coarse class of the fine level's out-of-fold predictions."""
    level, cohort = wildcards.level, wildcards.cohort
    samples, images, _, cae, settings = _classifier_inputs(input, params, threads)
    folds = fold_numbers(read_table(input.folds), samples, input.folds)
    fine, coarse = fine_level(params.label_columns), coarse_level(params.label_columns)
    predictions, tables, trials = evaluate_cv(
        images, samples, level, folds, settings, cae.config.to_dict(), cae.state_dict(), coarse=coarse
    )
    metrics = summary_frame({level: tables}, "cae_classifier")
    if level != fine:
        fine_predicted = read_table(input.fine_predictions, dtype={"predicted": str})["predicted"].to_numpy()
        metrics = pd.concat(
            [metrics, from_fine_rows("cae_classifier", samples, fine_predicted, fine, level)],
            ignore_index=True,
        )
    for row in metrics.itertuples(index=False):
        log.info("%s %s %s = %.4f", row.model, row.level, row.metric, row.value)

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
        f"{cohort}: CAE classifier, {level}, out-of-fold",
        output.confusion_png,
    )
    plot_roc(tables["roc"], tables["auc"], f"{cohort}: one-vs-rest ROC per fold ({level})", output.roc_png)
    plot_f1_bars({"CAE classifier": tables["per_class"]}, f"{cohort}: F1 per {level}", output.f1_png)
