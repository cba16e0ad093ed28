"""Which variants drive the ancestry predictions: LightGBM on the alt-allele counts, explained by SHAP.

Out of core: a whole-genome cohort has millions of variants, too many for LightGBM and far too many for a
SHAP array of samples x variants x classes. So

1. **candidates** are preselected by a streamed population-differentiation statistic,
   :func:`differentiation_chi2` (Pearson's chi-square of alt vs ref allele counts across the fine-level
   label groups), read one variant block at a time; the ``max_candidates`` variants of highest statistic
   are kept (:func:`top_candidates`) and only their columns are read (:func:`read_columns`, int8);
2. LightGBM (multiclass, one tree ensemble per population) is cross-validated on the classifier's folds,
   with the candidates chosen again **inside each fold from its training samples only** (the statistic
   uses the labels: choosing on all samples would leak the test fold's labels into the CV metrics), so its
   out-of-fold metrics sit beside the CAE classifier's honestly;
3. a model fitted on all labelled samples (candidates chosen on all samples) is explained with SHAP's
   TreeExplainer (exact Shapley values for trees) in batches of samples, keeping only aggregates and the
   few rows the figures need (:func:`shap_summary`): memory grows with batch x candidates x classes,
   never with samples x variants x classes.

Missing calls are NaN, which LightGBM routes natively.

Importance of a variant (a candidate; the other variants were not modelled):

* ``overall``: mean |SHAP| over all samples and all population outputs;
* per population P: mean |SHAP| of P's output over all samples (how much the variant moves the
  probability of P, for members and non-members alike).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from popcen.classification.cv import out_of_fold_proba
from popcen.features import iter_variant_blocks

log = logging.getLogger("popcen")

# Name of the preselection statistic: the column of top_variants.tsv and the ``statistic`` of candidates.json.
STATISTIC = "chi2"
# SHAP values held per batch of samples (float64 samples x features x classes): LightGBM's pred_contrib
# and shap's reshaping hold about three such arrays at once, so ~200 MB at most whatever the cohort's size.
SHAP_BATCH_BYTES = 64 << 20

# LightGBM settings the config may set (the ``explain.lightgbm`` section), with the demo-sized defaults.
LIGHTGBM_DEFAULTS = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 5,
    "colsample_bytree": 0.5,
    "subsample": 0.8,
    "subsample_freq": 1,
    "reg_lambda": 1.0,
}


def as_float(alt_count: np.ndarray) -> np.ndarray:
    """int8 alt counts with -1 = missing -> float32 with NaN = missing (LightGBM's missing value)."""
    x = alt_count.astype(np.float32)
    x[alt_count < 0] = np.nan
    return x


def chi2_statistic(alt: np.ndarray, called: np.ndarray) -> np.ndarray:
    """Pearson's chi-square of each variant's 2 x G table (alt, ref allele counts) x (groups).

    With ``n_g`` called alleles and ``a_g`` alt alleles in group g and the pooled alt frequency
    ``p = sum(a) / sum(n)``, the alt and ref cells of a group add up to ``(a_g - n_g p)^2 / (n_g p (1 - p))``.
    A group with no call adds nothing (its column is absent from the table); a variant with one allele
    only among the called samples (p = 0 or 1), or no call at all, gets 0: nothing tells the groups apart.

    Parameters
    ----------
    alt, called : (..., G, n_variants) alt and called allele counts per group (any leading axes)

    Returns
    -------
    (..., n_variants) float64
    """
    alt = np.asarray(alt, dtype=np.float64)
    called = np.asarray(called, dtype=np.float64)
    n = called.sum(axis=-2, keepdims=True)
    p = np.divide(alt.sum(axis=-2, keepdims=True), n, out=np.zeros_like(n), where=n > 0)
    denom = called * p * (1 - p)
    cell = np.divide((alt - called * p) ** 2, denom, out=np.zeros_like(denom), where=denom > 0)
    return cell.sum(axis=-2)


def differentiation_chi2(
    alt_count, groups, n_groups: int, subsets=None, block: int | None = None
) -> np.ndarray:
    """Streamed population differentiation of every variant: :func:`chi2_statistic` of the allele counts
    across label groups, computed one variant block at a time.

    Why this statistic: it is defined for any number of groups at once (Hudson's Fst is pairwise), needs
    only per-group allele counts (one matrix product per block), and as a test statistic it grows with
    the evidence: a rare or sparsely called variant cannot top the list on a few alleles, as it can with
    a ratio such as Fst. Every table has G - 1 degrees of freedom (fewer only where a group has no call),
    so ranking by the statistic ranks by its p-value, without the p-values' underflow to 0 at cohort size.

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int8 alt counts (-1 = missing): a Zarr array, read in blocks by
        :func:`popcen.features.iter_variant_blocks`, or a numpy array
    groups : (n_samples,) int group (label class) of each sample, in [0, n_groups)
    n_groups : number of groups
    subsets : list of (n_samples,) boolean masks; one statistic per mask, over its samples only (e.g. the
        training samples of each fold), all from the same single pass over the data; None (as the list or
        as one of its masks): all samples.
    block : variants per block (default: the Zarr chunk width)

    Returns
    -------
    (n_subsets, n_variants) float64
    """
    groups = np.asarray(groups)
    n_samples, n_variants = alt_count.shape
    if len(groups) != n_samples:
        raise ValueError(f"{len(groups)} groups for {n_samples} samples")
    subsets = [None] if subsets is None else subsets
    subsets = [np.ones(n_samples, bool) if m is None else np.asarray(m, bool) for m in subsets]
    # Row s * G + g of the indicator matrix selects the samples of group g in subset s, so that one
    # product per block gives every subset's per-group counts. float32 is exact here: the counts are
    # integers below 2 * n_samples, far under 2**24.
    member = np.zeros((len(subsets) * n_groups, n_samples), dtype=np.float32)
    for s, mask in enumerate(subsets):
        rows = np.flatnonzero(mask)
        member[s * n_groups + groups[rows], rows] = 1
    out = np.empty((len(subsets), n_variants))
    for start, gn in iter_variant_blocks(alt_count, block):
        alt = member @ gn.clip(0).astype(np.float32)
        called = 2 * (member @ (gn >= 0).astype(np.float32))
        shape = (len(subsets), n_groups, gn.shape[1])
        out[:, start : start + gn.shape[1]] = chi2_statistic(alt.reshape(shape), called.reshape(shape))
    return out


def top_candidates(statistic: np.ndarray, cap: int) -> np.ndarray:
    """Indices of the ``cap`` variants of highest statistic, in genome order (ascending).

    Ties are broken by genome order (the earlier variant first); ``cap`` 0, or at least the number of
    variants, keeps every variant.
    """
    statistic = np.asarray(statistic)
    if not cap or cap >= len(statistic):
        return np.arange(len(statistic))
    return np.sort(np.argsort(-statistic, kind="stable")[:cap])


def candidates_note(
    statistic: np.ndarray, kept: np.ndarray, cap: int, level: str, labels, fold_kept=None
) -> dict:
    """How the candidates were chosen, for ``candidates.json`` and the report.

    Parameters
    ----------
    statistic : (n_variants,) :func:`differentiation_chi2` of every variant on all samples
    kept : indices of the candidates (:func:`top_candidates`)
    cap : ``explain.max_candidates`` (0 = no cap)
    level, labels : the label level whose groups the statistic compares, and its groups
    fold_kept : {fold: indices} the candidates chosen on each fold's training samples
    """
    kept_values = np.asarray(statistic)[kept]
    return {
        "statistic": STATISTIC,
        "description": f"Pearson chi-square of alt vs ref allele counts (called samples) across the "
        f"{len(labels)} {level} groups (a 2 x {len(labels)} table per variant), computed in variant blocks",
        "level": level,
        "groups": [str(label) for label in labels],
        "max_candidates": int(cap),
        "variants_scanned": int(len(statistic)),
        "candidates_kept": int(len(kept)),
        "min_statistic_kept": round(float(kept_values.min()), 4) if len(kept) else None,
        "max_statistic": round(float(np.max(statistic)), 4) if len(statistic) else None,
        "ties": "broken by genome order",
        "cross_validation": "candidates chosen again in each fold from its training samples only",
        "candidates_per_fold": {str(f): int(len(k)) for f, k in (fold_kept or {}).items()},
    }


def read_columns(alt_count, index=None) -> np.ndarray:
    """The int8 (n_samples, len(index)) columns ``index`` (ascending) of an alt-count array; all columns when
    ``index`` is None. A Zarr array is read by orthogonal selection: only the chunks that hold them."""
    if index is None:
        return np.asarray(alt_count[:], dtype=np.int8)
    index = np.asarray(index, dtype=np.int64)
    if hasattr(alt_count, "get_orthogonal_selection"):
        return np.asarray(alt_count.get_orthogonal_selection((slice(None), index)), dtype=np.int8)
    return np.asarray(alt_count[:, index], dtype=np.int8)


def make_lightgbm(n_classes: int, params: dict | None = None, seed: int = 1, n_jobs: int = 1):
    """A multiclass ``LGBMClassifier`` with balanced class weights (like the CAE classifier's loss)."""
    import lightgbm as lgb

    settings = {**LIGHTGBM_DEFAULTS, **(params or {})}
    return lgb.LGBMClassifier(
        objective="multiclass",
        num_class=n_classes,
        class_weight="balanced",
        random_state=seed,
        n_jobs=n_jobs,
        verbose=-1,
        **settings,
    )


def lightgbm_cv_proba(
    alt_count,
    y: np.ndarray,
    folds: np.ndarray,
    n_classes: int,
    *,
    candidates=None,
    params=None,
    seed=1,
    n_jobs=1,
) -> np.ndarray:
    """Out-of-fold probabilities (n_samples, n_classes) of LightGBM on the given folds.

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int8 alt counts (-1 = missing), a Zarr or numpy array
    y, folds : class and fold of each sample
    candidates : {fold: variant indices} the variants each fold's model sees, chosen on that fold's
        training samples only (:func:`differentiation_chi2` with one subset per fold); None: all variants.
        Only those columns are read, one fold at a time.
    """

    def fit_predict(train, test, fold):
        x = as_float(read_columns(alt_count, None if candidates is None else candidates[fold]))
        model = make_lightgbm(n_classes, params, seed, n_jobs).fit(x[train], y[train])
        proba = np.zeros((len(test), n_classes))
        proba[:, model.classes_] = model.predict_proba(x[test])  # a class absent from a fold stays 0
        return proba

    return out_of_fold_proba(fit_predict, folds, n_classes, desc="LightGBM folds")


def _explain(explainer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values (n, n_features, n_classes), expected (n_classes,)) of a TreeExplainer on the rows ``x``."""
    values = explainer.shap_values(x)
    if isinstance(values, list):  # older shap: one (n, f) array per class
        values = np.stack(values, axis=-1)
    values = np.asarray(values)
    if values.ndim == 2:  # a binary model explains one output: the second class's
        values = np.stack([-values, values], axis=-1)
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    if expected.size == 1 and values.shape[-1] == 2:
        expected = np.array([-expected[0], expected[0]])
    return values, expected


def shap_values(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values (n_samples, n_features, n_classes) in log-odds units and the expected values (n_classes,).

    The whole array at once: for small inputs (tests, one sample); a cohort goes through :func:`shap_summary`.
    """
    import shap

    return _explain(shap.TreeExplainer(model), x)


def shap_batch_size(n_features: int, n_classes: int, budget_bytes: int = SHAP_BATCH_BYTES) -> int:
    """Samples per SHAP batch such that one batch's float64 values take at most ``budget_bytes`` (>= 1)."""
    return max(1, int(budget_bytes) // (8 * (n_features + 1) * max(n_classes, 2)))


@dataclass
class ShapSummary:
    """What the explain outputs need of the SHAP values, without the (samples, features, classes) array.

    mean_abs : (n_features, n_classes) mean |SHAP| over all samples, per output (class)
    expected : (n_classes,) expected value (log-odds) of each output
    kept : (n_kept, n_features) SHAP values of the kept (row, class) pairs, in the order asked for
    """

    mean_abs: np.ndarray
    expected: np.ndarray
    kept: np.ndarray


def shap_summary(model, x: np.ndarray, keep_rows=(), keep_classes=(), batch_size: int = 256) -> ShapSummary:
    """SHAP values of a tree model computed ``batch_size`` samples at a time, reduced to a :class:`ShapSummary`.

    Parameters
    ----------
    model : a fitted LightGBM classifier
    x : (n_samples, n_features) float32 inputs (NaN = missing)
    keep_rows, keep_classes : pairs (sample row, class) whose SHAP vectors over the features are kept,
        e.g. each beeswarm sample with its own class and the waterfall's sample with its predicted class
    batch_size : samples per TreeExplainer call (:func:`shap_batch_size`); peak memory grows with
        batch_size x n_features x n_classes, not with the number of samples
    """
    import shap

    keep_rows = np.asarray(keep_rows, dtype=np.int64)
    keep_classes = np.asarray(keep_classes, dtype=np.int64)
    if keep_rows.shape != keep_classes.shape:
        raise ValueError(f"{len(keep_rows)} rows to keep for {len(keep_classes)} classes")
    explainer = shap.TreeExplainer(model)
    n, n_features = x.shape
    total = kept = expected = None
    for start in range(0, n, max(int(batch_size), 1)):
        values, expected = _explain(explainer, x[start : start + batch_size])
        if total is None:
            total = np.zeros(values.shape[1:])
            kept = np.zeros((len(keep_rows), n_features))
        hit = (keep_rows >= start) & (keep_rows < start + len(values))
        kept[hit] = values[keep_rows[hit] - start, :, keep_classes[hit]]
        total += np.abs(values, out=values).sum(axis=0)
    return ShapSummary(mean_abs=total / n, expected=expected, kept=kept)


def importance(mean_abs: np.ndarray, labels) -> pd.DataFrame:
    """Importance of each variant from the (n_features, n_classes) mean |SHAP| of :func:`shap_summary`:
    column ``overall`` (the mean over the classes, i.e. over all samples and outputs) and one per population."""
    mean_abs = np.asarray(mean_abs)
    table = pd.DataFrame(mean_abs, columns=list(labels))
    table.insert(0, "overall", mean_abs.mean(axis=1))
    return table


def beeswarm_rows(n_samples: int, max_rows: int, seed: int = 1) -> np.ndarray:
    """Rows (ascending) of the samples the beeswarm shows: all when ``max_rows`` is 0 or at least
    ``n_samples``, else a random ``max_rows`` of them (seeded), so that the figure's memory is bounded."""
    if not max_rows or max_rows >= n_samples:
        return np.arange(n_samples)
    return np.sort(np.random.default_rng(seed).choice(n_samples, size=max_rows, replace=False))


def importance_table(imp: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """:func:`importance` with each variant's ``id, chrom, pos, ref, alt`` in front (rows in variant order)."""
    if len(imp) != len(variants):
        raise ValueError(f"{len(imp)} importances for {len(variants)} variants")
    return pd.concat([variants[["id", "chrom", "pos", "ref", "alt"]].reset_index(drop=True), imp], axis=1)


def top_variants(
    imp: pd.DataFrame, variants: pd.DataFrame, k: int = 15, statistic: np.ndarray | None = None
) -> pd.DataFrame:
    """The ``k`` variants of highest mean |SHAP| overall and for each population, annotated.

    Parameters
    ----------
    imp : from :func:`importance` (rows in the order of ``variants``)
    variants : the feature set's variant table (id, chrom, pos, ref, alt, af, af_<POP> ...), the rows of
        the modelled variants (the candidates)
    statistic : each variant's preselection statistic (:func:`differentiation_chi2` on all samples), or None

    Returns
    -------
    DataFrame: scope (``overall`` or a population), rank (1 = most important), mean_abs_shap, [chi2], id,
    chrom, pos, alleles (``ref>alt``), af and every af_<POP> column.
    """
    if len(imp) != len(variants):
        raise ValueError(f"{len(imp)} importances for {len(variants)} variants")
    af_cols = [c for c in variants.columns if c == "af" or c.startswith("af_")]
    annot = variants[["id", "chrom", "pos"]].copy()
    annot["alleles"] = variants["ref"].astype(str) + ">" + variants["alt"].astype(str)
    annot[af_cols] = variants[af_cols]
    if statistic is not None:
        if len(statistic) != len(variants):
            raise ValueError(f"{len(statistic)} statistics for {len(variants)} variants")
        annot.insert(0, STATISTIC, np.round(np.asarray(statistic, dtype=float), 4))
    parts = []
    for scope in imp.columns:
        # stable sort: ties keep genome order
        order = np.argsort(-imp[scope].to_numpy(), kind="stable")[:k]
        part = annot.iloc[order].reset_index(drop=True)
        part.insert(0, "mean_abs_shap", imp[scope].to_numpy()[order])
        part.insert(0, "rank", np.arange(1, len(order) + 1))
        part.insert(0, "scope", scope)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def variant_names(variants: pd.DataFrame) -> list[str]:
    """Short plot labels: ``id (chrom:pos ref>alt)`` or ``chrom:pos ref>alt`` when the ID is the position."""
    names = []
    for i, c, p, r, a in variants[["id", "chrom", "pos", "ref", "alt"]].itertuples(index=False):
        where = f"{c}:{p} {r}>{a}"
        names.append(where if str(i) in ("", ".", f"{c}:{p}:{r}:{a}") else f"{i} ({where})")
    return names


def choose_sample(samples: pd.DataFrame, wanted: str | None) -> int:
    """Row of the sample to explain: ``wanted`` (a sample ID) or, when empty, the first sample."""
    if not wanted:
        return 0
    hits = np.flatnonzero(samples["sample"].astype(str).to_numpy() == str(wanted))
    if not len(hits):
        raise KeyError(wanted)
    return int(hits[0])
