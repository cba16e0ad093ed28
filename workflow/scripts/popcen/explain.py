"""Which variants drive the ancestry predictions: LightGBM on the alt-allele counts, explained by SHAP.

LightGBM (multiclass, one tree ensemble per population) is cross-validated on the classifier's folds, so
its out-of-fold metrics sit beside the CAE classifier's; a model fitted on all labelled samples is then
explained with SHAP's TreeExplainer (exact Shapley values for trees). Missing calls are NaN, which
LightGBM routes natively.

Importance of a variant:

* ``overall``: mean |SHAP| over all samples and all population outputs;
* per population P: mean |SHAP| of P's output over all samples (how much the variant moves the
  probability of P, for members and non-members alike).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from popcen.classification.cv import out_of_fold_proba

log = logging.getLogger("popcen")

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
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, n_classes: int, params=None, seed=1, n_jobs=1
) -> np.ndarray:
    """Out-of-fold probabilities (n_samples, n_classes) of LightGBM on the given folds."""

    def fit_predict(train, test, fold):
        model = make_lightgbm(n_classes, params, seed, n_jobs).fit(x[train], y[train])
        proba = np.zeros((len(test), n_classes))
        proba[:, model.classes_] = model.predict_proba(x[test])  # a class absent from a fold stays 0
        return proba

    return out_of_fold_proba(fit_predict, folds, n_classes, desc="LightGBM folds")


def shap_values(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values (n_samples, n_features, n_classes) in log-odds units and the expected values (n_classes,)."""
    import shap

    explainer = shap.TreeExplainer(model)
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


def importance(values: np.ndarray, labels) -> pd.DataFrame:
    """Mean |SHAP| per variant: column ``overall`` and one column per population."""
    a = np.abs(values)
    table = pd.DataFrame(a.mean(axis=0), columns=list(labels))
    table.insert(0, "overall", a.mean(axis=(0, 2)))
    return table


def importance_table(imp: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """:func:`importance` with each variant's ``id, chrom, pos, ref, alt`` in front (rows in variant order)."""
    if len(imp) != len(variants):
        raise ValueError(f"{len(imp)} importances for {len(variants)} variants")
    return pd.concat([variants[["id", "chrom", "pos", "ref", "alt"]].reset_index(drop=True), imp], axis=1)


def top_variants(imp: pd.DataFrame, variants: pd.DataFrame, k: int = 15) -> pd.DataFrame:
    """The ``k`` variants of highest mean |SHAP| overall and for each population, annotated.

    Parameters
    ----------
    imp : from :func:`importance` (rows in the order of ``variants``)
    variants : the feature set's variant table (id, chrom, pos, ref, alt, af, af_<POP> ...)

    Returns
    -------
    DataFrame: scope (``overall`` or a population), rank (1 = most important), mean_abs_shap, id, chrom,
    pos, alleles (``ref>alt``), af and every af_<POP> column.
    """
    if len(imp) != len(variants):
        raise ValueError(f"{len(imp)} importances for {len(variants)} variants")
    af_cols = [c for c in variants.columns if c == "af" or c.startswith("af_")]
    annot = variants[["id", "chrom", "pos"]].copy()
    annot["alleles"] = variants["ref"].astype(str) + ">" + variants["alt"].astype(str)
    annot[af_cols] = variants[af_cols]
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
