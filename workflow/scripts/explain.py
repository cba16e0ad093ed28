"""Rule explain: LightGBM on the cohort's features (same folds as the classifier), SHAP top variants and plots."""

import pandas as pd

from popcen.classification.cv import evaluate_with_coarse, summary_frame
from popcen.classification.tables import encode_labels, predictions_table, read_folds
from popcen.errors import PopcenInputError
from popcen.explain import (
    as_float,
    choose_sample,
    importance,
    lightgbm_cv_proba,
    make_lightgbm,
    plot_beeswarm,
    plot_waterfall,
    shap_values,
    top_variants,
    variant_names,
)
from popcen.features import load_features
from popcen.plots.classification import plot_f1_bars
from popcen.rulerunner import run_rule


def main(smk, log):
    cfg = smk.params.explain
    labels_cols = smk.params.label_columns
    fine, coarse = labels_cols[0], (labels_cols[1] if len(labels_cols) > 1 else None)
    gn, variants, samples = load_features(smk.params.features)
    folds = read_folds(smk.input.folds, samples)
    y, labels = encode_labels(samples, fine)
    x = as_float(gn)
    threads = max(1, smk.threads)

    proba = lightgbm_cv_proba(x, y, folds, len(labels), cfg["lightgbm"], cfg["seed"], threads)
    results = evaluate_with_coarse(samples, proba, labels, folds, fine, coarse)
    # Named like the CAE classifier's rows: the fine model, and the coarse class of its fine predictions.
    lgb_metrics = summary_frame({fine: results[fine]}, "lightgbm")
    if coarse:
        lgb_metrics = pd.concat([lgb_metrics, summary_frame(
            {coarse: {"summary": results[coarse]["summary_from_fine_argmax"]}}, f"lightgbm_from_{fine}")])
    cae_metrics = pd.concat([pd.read_csv(p, sep="\t") for p in smk.input.cae_metrics], ignore_index=True)
    comparison = pd.concat([cae_metrics, lgb_metrics], ignore_index=True)
    comparison.to_csv(smk.output.metrics, sep="\t", index=False)
    predictions_table(samples, fine, labels, proba, folds).to_csv(smk.output.predictions, sep="\t", index=False)
    cae_per_class = pd.read_csv(smk.input.cae_per_class, sep="\t", dtype={"label": str})
    plot_f1_bars({"CAE classifier": cae_per_class, "LightGBM": results[fine]["per_class"]},
                 f"{smk.wildcards.cohort}: out-of-fold F1 per {fine}", smk.output.f1_png)

    model = make_lightgbm(len(labels), cfg["lightgbm"], cfg["seed"], threads).fit(x, y)
    values, expected = shap_values(model, x)
    imp = importance(values, labels)
    pd.concat([variants[["id", "chrom", "pos", "ref", "alt"]], imp], axis=1).to_csv(
        smk.output.importance, sep="\t", index=False, float_format="%.6g")
    top = top_variants(imp, variants, cfg["top_k"])
    top.to_csv(smk.output.top, sep="\t", index=False, float_format="%.6g")
    log.info("top variants overall: %s", ", ".join(top[top.scope == "overall"].id.head(5)))

    names = variant_names(variants)
    plot_beeswarm(values, expected, x, y, names, smk.output.beeswarm, cfg["top_k"])
    try:
        row = choose_sample(samples, cfg["sample"])
    except KeyError:
        raise PopcenInputError(smk.params.features, f"explain.sample {cfg['sample']!r} is not a sample of "
                                                    "this cohort") from None
    predicted = int(model.predict(x[row:row + 1])[0])
    plot_waterfall(values, expected, x, names, row, predicted,
                   f"{samples['sample'].iloc[row]} ({fine} {samples[fine].iloc[row]}): "
                   f"SHAP towards predicted {labels[predicted]} (log-odds)", smk.output.waterfall, cfg["top_k"])


run_rule(main, snakemake)
