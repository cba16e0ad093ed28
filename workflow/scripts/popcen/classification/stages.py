"""What the classification rules do, as functions of paths and config sections (the scripts only call
these): folds, training, cross-validated evaluation, and prediction of a new cohort."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from popcen.classification.cv import evaluate_level, summary_frame
from popcen.classification.metrics import coarse_groups, coarsen, label_map, summary_metrics
from popcen.classification.tables import encode_labels, predictions_table
from popcen.classification.train import TrainSettings, cross_validated_proba, predict_proba, train_with_search
from popcen.errors import PopcenInputError
from popcen.images import genotype_images, to_images

log = logging.getLogger("popcen")


# ------------------------------------------------------------------------------------------ inputs
def cae_variant_index(cae_meta: dict, n_variants: int) -> np.ndarray:
    """Rows of the feature set's variants that the CAE's images hold, in image order."""
    if "variant_index" in cae_meta:
        return np.asarray(cae_meta["variant_index"], dtype=np.int64)
    return np.arange(n_variants)


def images_for(alt_count: np.ndarray, variant_index: np.ndarray, cae_config: dict) -> np.ndarray:
    """The CAE's genotype images of a cohort (same variants, same layout), checked against its size."""
    images, _ = genotype_images(alt_count[:, variant_index], None)
    if images.shape[-1] != cae_config["side"] or len(variant_index) != cae_config["n_pixels"]:
        raise PopcenInputError(None, f"images of {len(variant_index)} variants (side {images.shape[-1]}) do not "
                                     f"fit the CAE ({cae_config['n_pixels']} pixels, side {cae_config['side']}); "
                                     "re-run train_cae")
    return images


# ------------------------------------------------------------------------------------------- train
def train_final(images, samples, label_column, settings: TrainSettings, coarse_column: str | None,
                loss_tsv, cae_config, cae_state, variant_index) -> tuple[object, dict, pd.DataFrame]:
    """Train the cohort's classifier on all labelled samples (inner split for early stopping/search).

    Returns (model, metadata for :func:`popcen.classification.io.save_classifier`, trials table).
    """
    y, labels = encode_labels(samples, label_column)
    settings = with_coarse_loss(settings, samples, label_column, coarse_column)
    model, chosen, trials = train_with_search(images, y, len(labels), cae_config, cae_state, settings,
                                              np.arange(len(y)), loss_tsv=loss_tsv, desc="classifier")
    meta = {
        "label_column": label_column,
        "labels": labels,
        "coarse_column": coarse_column,
        "coarse_map": label_map(samples, label_column, coarse_column) if coarse_column else None,
        "variant_index": [int(i) for i in variant_index],
        "settings": {k: v for k, v in vars(chosen).items()},
        "n_samples": len(y),
    }
    return model, meta, trials


# ---------------------------------------------------------------------------------------- evaluate
def evaluate_cv(images, samples, level, folds, settings: TrainSettings, cae_config, cae_state,
                coarse: str | None = None):
    """Cross-validated classifier trained on the ``level`` column: (predictions table, tables, trials).
    ``coarse``: the next coarser label column, for the optional coarse-level loss."""
    y, labels = encode_labels(samples, level)
    settings = with_coarse_loss(settings, samples, level, coarse)
    proba, trials = cross_validated_proba(images, y, len(labels), cae_config, cae_state, settings, folds,
                                          desc=f"CV {level}")
    tables = evaluate_level(samples[level].astype(str).to_numpy(), proba, labels, folds)
    return predictions_table(samples, level, labels, proba, folds), tables, trials


def with_coarse_loss(settings: TrainSettings, samples, fine: str, coarse: str | None) -> TrainSettings:
    """``settings`` with the fine classes' coarse groups filled in when the coarse-level loss is on
    (``coarse_weight`` > 0) and there is a coarser label column; otherwise unchanged."""
    if not settings.coarse_weight or not coarse or coarse == fine:
        return settings
    return dataclasses.replace(settings, coarse_of=coarse_groups(samples, fine, coarse))


def derived_summary(fine_predictions: pd.DataFrame, samples: pd.DataFrame, fine: str, coarse: str) -> dict:
    """Metrics at the ``coarse`` level of the coarse class of each fine out-of-fold prediction."""
    mapping = label_map(samples, fine, coarse)
    labels = sorted(set(mapping.values()))
    return summary_metrics(samples[coarse].astype(str).to_numpy(),
                           coarsen(fine_predictions["predicted"].to_numpy(), mapping), labels)


def metrics_rows(model: str, level: str, summary: dict) -> pd.DataFrame:
    return summary_frame({level: {"summary": summary}}, model)


# ----------------------------------------------------------------------------------------- predict
def predict_new_cohort(model, meta: dict, train_variants: pd.DataFrame, new_gn: np.ndarray,
                       new_variants: pd.DataFrame, new_samples: pd.DataFrame, min_overlap: float,
                       strand_ambiguous: str, source, device: str = "auto"):
    """Align a new cohort to the model's variants and predict it.

    Returns
    -------
    predictions : sample, [true labels], predicted, predicted_<coarse>, p_<label>...
    matching : one row per model variant: id, chrom, pos, ref, alt, status, new_index
    report : overlap counts (see :func:`popcen.variant_matching.overlap_report`)
    """
    from popcen.variant_matching import align_counts, check_overlap, match_variants

    model_variants = train_variants.iloc[meta["variant_index"]].reset_index(drop=True)
    match = match_variants(model_variants, new_variants, strand_ambiguous)
    report = check_overlap(match, min_overlap, source)
    # A variant or call the new cohort lacks takes the training mean alt count (2 · AF over the model
    # cohort's called samples), the value the CAE's images give a missing training call.
    train_mean = 2 * model_variants["af"].fillna(0).to_numpy(dtype=np.float32)
    aligned = align_counts(new_gn, match, train_mean)
    images = to_images(aligned / 2.0)  # same scaling as popcen.images.scale_genotypes: count / 2
    proba = predict_proba(model, images, device)
    labels = meta["labels"]
    out = predictions_table(new_samples, meta["label_column"], labels, proba)
    coarse = meta.get("coarse_column")
    if coarse:
        out.insert(out.columns.get_loc("predicted") + 1, f"predicted_{coarse}",
                   coarsen(out["predicted"].to_numpy(), meta["coarse_map"]))
        if coarse in new_samples.columns:
            out.insert(out.columns.get_loc("predicted"), coarse, new_samples[coarse].to_numpy())
    matching = pd.concat([model_variants[["id", "chrom", "pos", "ref", "alt"]], match[["status", "new_index"]]],
                         axis=1)
    return out, matching, report


def accuracy_note(predictions: pd.DataFrame, meta: dict) -> dict:
    """When the new cohort is labelled with the model's classes: accuracy at each level (for the log)."""
    notes = {}
    for column, predicted in ((meta["label_column"], "predicted"),
                              (meta.get("coarse_column"), f"predicted_{meta.get('coarse_column')}")):
        if column and column in predictions.columns and predicted in predictions.columns:
            notes[column] = float((predictions[column].astype(str) == predictions[predicted].astype(str)).mean())
    return notes


def write_json(obj, path) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, default=float) + "\n")
