"""Rule of ``rules/explain.smk``: LightGBM on the cohort's most differentiated variants (on the classifier's
folds), its metrics beside the CAE classifier's, and SHAP's top variants and figures; out of core."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from popcen.classification.cv import evaluate_level, from_fine_rows, summary_frame
from popcen.classification.tables import encode_labels, fold_numbers, predictions_table
from popcen.errors import PopcenInputError
from popcen.explain import (
    STATISTIC,
    as_float,
    beeswarm_rows,
    candidates_note,
    choose_sample,
    differentiation_chi2,
    importance,
    importance_table,
    lightgbm_cv_proba,
    make_lightgbm,
    read_columns,
    shap_batch_size,
    shap_summary,
    top_candidates,
    top_variants,
    variant_names,
)
from popcen.features import open_genotypes
from popcen.io import read_samples, read_table, read_variants, write_table
from popcen.panel import coarse_level, fine_level
from popcen.plots.classification import plot_f1_bars
from popcen.plots.explain import plot_beeswarm, plot_waterfall


def explain(input, output, params, wildcards, threads, log):
    """LightGBM cross-validated on ``input.folds`` at the fine level, then fitted on all samples and explained.

    The genotypes are streamed once to rank the variants by :func:`popcen.explain.differentiation_chi2`
    (on each fold's training samples and on all samples); only the ``max_candidates`` best of each ranking
    are read, as int8, for the fold's model or the final one.
    """
    fine, coarse = fine_level(params.label_columns), coarse_level(params.label_columns)
    alt_count = open_genotypes(input.genotypes)
    variants, samples = read_variants(input.variants), read_samples(input.samples)
    if alt_count.shape != (len(samples), len(variants)):
        raise PopcenInputError(
            input.genotypes,
            f"holds {alt_count.shape[0]} samples x {alt_count.shape[1]} variants, but the tables list "
            f"{len(samples)} x {len(variants)}; re-run assemble_features",
        )
    folds = fold_numbers(read_table(input.folds), samples, input.folds)
    y, labels = encode_labels(samples, fine)
    threads = max(1, threads)

    # One pass over the genotypes: the statistic on each fold's training samples, then on all samples.
    fold_ids = [int(f) for f in np.unique(folds)]
    stats = differentiation_chi2(alt_count, y, len(labels), [folds != f for f in fold_ids] + [None])
    fold_candidates = {f: top_candidates(stats[i], params.max_candidates) for i, f in enumerate(fold_ids)}
    candidates = top_candidates(stats[-1], params.max_candidates)
    note = candidates_note(stats[-1], candidates, params.max_candidates, fine, labels, fold_candidates)
    with open(output.candidates, "w") as fh:
        json.dump(note, fh, indent=2)
    log.info(
        "%d of %d variants kept as candidates by %s across %d %s groups (threshold %s)",
        len(candidates),
        len(variants),
        STATISTIC,
        len(labels),
        fine,
        note["min_statistic_kept"],
    )

    proba = lightgbm_cv_proba(
        alt_count,
        y,
        folds,
        len(labels),
        candidates=fold_candidates,
        params=params.lightgbm,
        seed=params.seed,
        n_jobs=threads,
    )
    tables = evaluate_level(samples[fine].to_numpy(), proba, labels, folds)
    # Named like the CAE classifier's rows: the fine model, and the coarse class of its fine predictions.
    lightgbm = [summary_frame({fine: tables}, "lightgbm")]
    if coarse:
        lightgbm.append(from_fine_rows("lightgbm", samples, tables["y_pred"], fine, coarse))
    # LightGBM's CV never sees a test fold: its candidates and trees come from each training fold alone.
    lightgbm = [frame.assign(cv_representation="inductive") for frame in lightgbm]
    metrics = [read_table(path) for path in input.cae_metrics] + lightgbm
    write_table(pd.concat(metrics, ignore_index=True), output.metrics)
    write_table(predictions_table(samples, fine, labels, proba, folds), output.predictions)
    cae_per_class = read_table(input.cae_per_class, dtype={"label": str})
    plot_f1_bars(
        {"CAE classifier": cae_per_class, "LightGBM": tables["per_class"]},
        f"{wildcards.cohort}: out-of-fold F1 per {fine}",
        output.f1_png,
    )

    try:
        row = choose_sample(samples, params.sample)
    except KeyError:
        raise PopcenInputError(
            input.samples, f"explain.sample {params.sample!r} is not a sample of this cohort"
        ) from None
    x = as_float(read_columns(alt_count, candidates))
    kept_variants = variants.iloc[candidates].reset_index(drop=True)
    model = make_lightgbm(len(labels), params.lightgbm, params.seed, threads).fit(x, y)
    predicted = int(model.predict(x[row : row + 1])[0])
    # Kept SHAP rows: each beeswarm sample towards its own population, then the waterfall's sample
    # towards its predicted one; everything else is reduced to mean |SHAP| batch by batch.
    shown = beeswarm_rows(len(y), params.beeswarm_samples, params.seed)
    summary = shap_summary(
        model,
        x,
        keep_rows=np.append(shown, row),
        keep_classes=np.append(y[shown], predicted),
        batch_size=shap_batch_size(x.shape[1], len(labels)),
    )
    imp = importance(summary.mean_abs, labels)
    write_table(importance_table(imp, kept_variants), output.importance)
    top = top_variants(imp, kept_variants, params.top_k, statistic=stats[-1][candidates])
    write_table(top, output.top)
    log.info("top variants overall: %s", ", ".join(top[top.scope == "overall"].id.head(5)))

    names = variant_names(kept_variants)
    plot_beeswarm(
        summary.kept[:-1], summary.expected[y[shown]], x[shown], names, output.beeswarm, params.top_k
    )
    plot_waterfall(
        summary.kept[-1],
        summary.expected[predicted],
        x[row],
        names,
        f"{samples['sample'].iloc[row]} ({fine} {samples[fine].iloc[row]}): "
        f"SHAP towards predicted {labels[predicted]} (log-odds)",
        output.waterfall,
        params.top_k,
    )
