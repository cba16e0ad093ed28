"""Predicting a new cohort with another cohort's classifier: which of its QC'd records are usable, their
alignment to the model's variants, and the prediction table.

Which records are usable: bi-allelic SNVs with an acceptable call rate, i.e. QC status ``kept``, but also
``low_mac`` / ``low_maf``. Frequency filters serve the training of a model; a variant that is rare or
monomorphic in the new cohort (say, a cohort of one population) still carries its true genotypes, which
are better evidence than the training mean they would otherwise get.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from popcen.batches import GenotypeData
from popcen.classification import exclusion
from popcen.classification.calibration import assign_calls, calibrate_proba, coarse_calls
from popcen.classification.metrics import coarsen
from popcen.classification.tables import predictions_table
from popcen.classification.train import predict_proba
from popcen.errors import PopcenInputError
from popcen.images import to_images
from popcen.models import seqcae
from popcen.representation import encode
from popcen.variant_matching import af_concordance, align_counts, check_af, check_overlap, match_variants

log = logging.getLogger("popcen")

USABLE_STATUSES = ("kept", "low_mac", "low_maf")


def usable_rows(qc: pd.DataFrame, source=None) -> np.ndarray:
    """Rows of a contig's QC variant table (``status`` column) whose records a new cohort is predicted on."""
    if "status" not in qc.columns:
        raise PopcenInputError(source, "QC table has no 'status' column")
    return np.flatnonzero(qc["status"].isin(USABLE_STATUSES).to_numpy())


def predict_new_cohort(
    model,
    meta: dict,
    train_variants: pd.DataFrame,
    new_gn,
    new_variants: pd.DataFrame,
    new_samples: pd.DataFrame,
    min_overlap: float,
    strand_ambiguous: str,
    source,
    device: str = "auto",
    calibration: dict | None = None,
    assign_threshold: float = 0.75,
    population_thresholds: dict | None = None,
    cae=None,
    reference: tuple[exclusion.ExclusionModel, float] | None = None,
    min_af_correlation: float | None = None,
    af_mismatch: str = "stop",
    return_arrays: bool = False,
):
    """Align a new cohort to the model's variants and predict it.

    Parameters
    ----------
    model, meta : the classifier and its metadata (:func:`popcen.classification.io.load_classifier`)
    train_variants : the model cohort's variant table (``meta["variant_index"]`` indexes its rows)
    new_gn, new_variants : the new cohort's (samples, records) alt counts (-1 missing) and its
        ``chrom, pos, ref, alt`` table. ``new_gn`` is an int8 array, or a reader (``.shape``,
        ``.columns(records)``, e.g. :class:`ContigRecords`) of which only the records that match a model
        variant are read: a whole-genome cohort's records are never held, only samples x model variants
    new_samples : ``sample`` and, when labelled, the model's label columns
    calibration : the model's temperature (``calibration.json`` of rule calibrate_classifier: ``temperature``,
        ``labels``); None = the raw probabilities
    assign_threshold, population_thresholds : a sample's call is its most similar label when that label's
        (calibrated) probability reaches the label's threshold, else ``unassigned``
    cae : the model cohort's CAE: each sample's latent code (``return_arrays``)
    reference : the model cohort's out-of-reference model (:class:`popcen.classification.exclusion.ExclusionModel`
        of rule reference_distances) and its cutoff, ``(model, cutoff)``: each sample's distance to its most
        similar reference population, the population its genotypes fit best, and ``outlier`` beyond the cutoff
    min_af_correlation, af_mismatch : the matched variants' allele frequencies must correlate with the
        model cohort's at least this much (:func:`popcen.variant_matching.af_concordance`), else the
        prediction stops (``stop``: :class:`PopcenInputError`, before anything is predicted) or goes on with
        a warning in the log and ``af_warning`` in the report (``warn``); None: not checked
    return_arrays : also return a :class:`NewCohortArrays` (the aligned int8 counts, the CAE latent code)

    Returns
    -------
    predictions : sample, [true labels], predicted, predicted_<coarse>, most_similar, top_probability, call,
        [most_similar_<coarse>, top_probability_<coarse>, call_<coarse>], [distance, nearest_reference,
        outlier], missing_fraction, p_<label>... (calibrated when ``calibration`` is given)
    matching : one row per model variant: id, chrom, pos, ref, alt, status, new_index
    report : overlap counts (see :func:`popcen.variant_matching.overlap_report`), ``af_correlation`` and
        ``af_compared``, and ``af_warning`` when the correlation was below its threshold under ``warn``
    arrays : with ``return_arrays`` only, a fourth item: :class:`NewCohortArrays`
    """
    model_variants = train_variants.iloc[meta["variant_index"]].reset_index(drop=True)
    match = match_variants(model_variants, new_variants, strand_ambiguous)
    report = check_overlap(match, min_overlap, source)
    matching = pd.concat(
        [model_variants[["id", "chrom", "pos", "ref", "alt"]], match[["status", "new_index"]]], axis=1
    )
    new_gn, match = matched_records(new_gn, match)
    report.update(af_concordance(new_gn, match, model_variants["af"].to_numpy(dtype=np.float64)))
    warning = check_af(report, min_af_correlation, af_mismatch, source)
    if warning:
        log.warning("%s: %s", source, warning)
        report["af_warning"] = warning
    aligned = aligned_counts(new_gn, match)
    images = aligned_images(
        aligned, model_variants["af"].to_numpy(), meta["cae"].get("architecture", "image")
    )
    proba = predict_proba(model, images, device)
    if calibration is not None:
        if list(calibration["labels"]) != list(meta["labels"]):
            raise PopcenInputError(
                source, "the calibration's labels differ from the classifier's; re-run calibrate_classifier"
            )
        proba = calibrate_proba(proba, calibration["temperature"], calibration.get("proba_floor", 1e-6))
    out = predictions_table(new_samples, meta["label_column"], meta["labels"], proba)
    coarse = meta.get("coarse_column")
    if coarse:
        out.insert(
            out.columns.get_loc("predicted") + 1,
            f"predicted_{coarse}",
            coarsen(out["predicted"].to_numpy(), meta["coarse_map"]),
        )
        if coarse in new_samples.columns:
            out.insert(out.columns.get_loc("predicted"), coarse, new_samples[coarse].to_numpy())
    first_p = out.columns.get_loc(f"p_{meta['labels'][0]}")
    extra = assign_calls(proba, meta["labels"], assign_threshold, population_thresholds)
    if coarse:
        calls, _ = coarse_calls(
            proba, meta["labels"], meta["coarse_map"], assign_threshold, population_thresholds
        )
        for name in calls.columns:
            extra[f"{name}_{coarse}"] = calls[name].to_numpy()
    latent = encode(cae, images, device=device) if cae is not None else None
    if reference is not None:
        model_ref, cutoff = reference
        if model_ref.alt.shape[1] != aligned.shape[1]:
            raise PopcenInputError(
                source,
                f"the out-of-reference model holds {model_ref.alt.shape[1]} variants, the classifier "
                f"{aligned.shape[1]}; re-run reference_distances",
            )
        d = exclusion.score_samples(model_ref, exclusion.array_blocks(aligned))
        distance, nearest = exclusion.distances(model_ref, d, against=extra["most_similar"].to_numpy())
        extra["distance"] = distance.round(6)
        extra["nearest_reference"] = nearest
        extra["outlier"] = distance > float(cutoff)
    extra["missing_fraction"] = missing_fraction(new_gn, match).round(6)
    out = pd.concat([out.iloc[:, :first_p], extra, out.iloc[:, first_p:]], axis=1)
    if return_arrays:
        return out, matching, report, NewCohortArrays(aligned, latent)
    return out, matching, report


def matched_records(new_gn, match: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """The new cohort's counts of only the records that match a model variant, (samples, matched) int8,
    and ``match`` with ``new_index`` renumbered into those columns (-1 stays -1). ``new_gn``: an array, or a
    reader whose ``columns(records)`` reads the given (sorted) records."""
    index = match["new_index"].to_numpy()
    found = index >= 0
    records, position = np.unique(index[found], return_inverse=True)
    if hasattr(new_gn, "columns") and not isinstance(new_gn, np.ndarray):
        counts = new_gn.columns(records)
    else:
        counts = np.asarray(new_gn)[:, records]
    local = np.full(len(index), -1, dtype=np.int64)
    local[found] = position
    return np.asarray(counts, dtype=np.int8), match.assign(new_index=local)


class ContigRecords:
    """A new cohort's usable records over several per-contig VCF stores, read on demand.

    ``stores``: one (Zarr group of ``vcf_to_zarr``, record rows of that store) per contig, in the order of
    the records' table; record ``j`` of the whole is row ``rows[j - offset]`` of its contig's store.
    ``columns(records)`` reads the alt counts (samples, len(records)) int8 of the given sorted records,
    contig by contig (:func:`popcen.zarrio.read_alt_counts` reads only the blocks that hold them)."""

    def __init__(self, stores: list[tuple[object, np.ndarray]], samples: list[str]):
        self.stores = stores
        self.samples = samples
        self.offsets = np.cumsum([0] + [len(rows) for _, rows in stores])
        self.shape = (len(samples), int(self.offsets[-1]))

    def columns(self, records: np.ndarray) -> np.ndarray:
        from popcen.zarrio import read_alt_counts

        records = np.asarray(records, dtype=np.int64)
        out = np.empty((len(self.samples), records.size), dtype=np.int8)
        for (store, rows), lo, hi in zip(self.stores, self.offsets[:-1], self.offsets[1:], strict=True):
            a, b = np.searchsorted(records, [lo, hi])
            if b > a:
                out[:, a:b] = read_alt_counts(store, rows[records[a:b] - lo], self.samples).T
        return out


@dataclass
class NewCohortArrays:
    """What :func:`predict_new_cohort` computed on the way, for the rules that work on from it."""

    aligned: np.ndarray  # (samples, model variants) int8 from :func:`aligned_counts` (-1 = missing)
    latent: np.ndarray | None  # (samples, latent_dim) the model cohort's CAE code, when a CAE was given


def aligned_counts(new_gn: np.ndarray, match: pd.DataFrame) -> np.ndarray:
    """The new cohort's alt counts in the model's variant order and orientation (swapped alleles recoded
    2 − x), int8, -1 where the model variant is absent from the new cohort or its call is missing."""
    return align_counts(new_gn, match)


def aligned_images(aligned, model_af, architecture: str = "image"):
    """The CAE's input for aligned counts (:func:`aligned_counts`): a missing variant or call takes the
    training mean alt count 2 · AF (AF over the model cohort's called samples, 0 where unknown), the value the
    CAE's input gives a missing training call; counts / 2 as in :func:`popcen.images.scale_genotypes`.

    Image layout: (samples, 1, side, side) float32 images. Sequence layout (``architecture: sequence``): a
    :class:`popcen.batches.GenotypeData` over the int8 counts (numpy or Zarr), scaled batch by batch where it
    is read, so that no float copy of a whole-genome cohort is held."""
    train_mean = 2 * np.nan_to_num(np.asarray(model_af, dtype=np.float32), nan=0.0)
    if architecture == seqcae.ARCHITECTURE:
        return GenotypeData(aligned, train_mean)
    aligned = np.asarray(aligned)
    filled = np.where(aligned < 0, train_mean[None, :], aligned.astype(np.float32))
    return to_images(filled / 2.0)


def missing_fraction(new_gn: np.ndarray, match: pd.DataFrame) -> np.ndarray:
    """Each sample's fraction of the model's variants that took the training mean: absent from the new
    cohort, or present with a missing call."""
    found = match["new_index"].to_numpy() >= 0
    if not len(match):
        return np.zeros(new_gn.shape[0])
    called = (new_gn[:, match["new_index"].to_numpy()[found]] >= 0).sum(1)
    return 1.0 - called / len(match)


def accuracy_note(predictions: pd.DataFrame, meta: dict) -> dict:
    """When the new cohort is labelled with the model's classes: accuracy at each level (for the log)."""
    notes = {}
    coarse = meta.get("coarse_column")
    for column, predicted in ((meta["label_column"], "predicted"), (coarse, f"predicted_{coarse}")):
        if column and column in predictions.columns and predicted in predictions.columns:
            notes[column] = float(
                (predictions[column].astype(str) == predictions[predicted].astype(str)).mean()
            )
    return notes
