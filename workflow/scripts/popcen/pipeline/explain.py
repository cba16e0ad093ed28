"""Rule of ``rules/explain.smk``: LightGBM on the cohort's features (on the classifier's folds), its metrics
beside the CAE classifier's, and SHAP's top variants and figures."""

from __future__ import annotations

import pandas as pd

from popcen.classification.cv import evaluate_level, from_fine_rows, summary_frame
from popcen.classification.tables import encode_labels, fold_numbers, predictions_table
from popcen.errors import PopcenInputError
from popcen.explain import (
    as_float,
    choose_sample,
    importance,
    importance_table,
    lightgbm_cv_proba,
    make_lightgbm,
    shap_values,
    top_variants,
    variant_names,
)
from popcen.features import read_features
from popcen.io import read_table, write_table
from popcen.panel import coarse_level, fine_level
from popcen.plots.classification import plot_f1_bars
from popcen.plots.explain import plot_beeswarm, plot_waterfall


def explain(input, output, params, wildcards, threads, log):
    """LightGBM cross-validated on ``input.folds`` at the fine level, then fitted on all samples and explained."""
    fine, coarse = fine_level(params.label_columns), coarse_level(params.label_columns)
    gn, variants, samples = read_features(input.genotypes, input.variants, input.samples)
    folds = fold_numbers(read_table(input.folds), samples, input.folds)
    y, labels = encode_labels(samples, fine)
    x = as_float(gn)
    threads = max(1, threads)

    proba = lightgbm_cv_proba(x, y, folds, len(labels), params.lightgbm, params.seed, threads)
    tables = evaluate_level(samples[fine].to_numpy(), proba, labels, folds)
    # Named like the CAE classifier's rows: the fine model, and the coarse class of its fine predictions.
    metrics = [read_table(path) for path in input.cae_metrics] + [summary_frame({fine: tables}, "lightgbm")]
    if coarse:
        metrics.append(from_fine_rows("lightgbm", samples, tables["y_pred"], fine, coarse))
    write_table(pd.concat(metrics, ignore_index=True), output.metrics)
    write_table(predictions_table(samples, fine, labels, proba, folds), output.predictions)
    cae_per_class = read_table(input.cae_per_class, dtype={"label": str})
    plot_f1_bars(
        {"CAE classifier": cae_per_class, "LightGBM": tables["per_class"]},
        f"{wildcards.cohort}: out-of-fold F1 per {fine}",
        output.f1_png,
    )

    model = make_lightgbm(len(labels), params.lightgbm, params.seed, threads).fit(x, y)
    values, expected = shap_values(model, x)
    imp = importance(values, labels)
    write_table(importance_table(imp, variants), output.importance)
    top = top_variants(imp, variants, params.top_k)
    write_table(top, output.top)
    log.info("top variants overall: %s", ", ".join(top[top.scope == "overall"].id.head(5)))

    names = variant_names(variants)
    plot_beeswarm(values, expected, x, y, names, output.beeswarm, params.top_k)
    try:
        row = choose_sample(samples, params.sample)
    except KeyError:
        raise PopcenInputError(
            input.samples, f"explain.sample {params.sample!r} is not a sample of this cohort"
        ) from None
    predicted = int(model.predict(x[row : row + 1])[0])
    plot_waterfall(
        values,
        expected,
        x,
        names,
        row,
        predicted,
        f"{samples['sample'].iloc[row]} ({fine} {samples[fine].iloc[row]}): "
        f"SHAP towards predicted {labels[predicted]} (log-odds)",
        output.waterfall,
        params.top_k,
    )
