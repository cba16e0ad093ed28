"""Rule evaluate_classifier: stratified k-fold CV of the classifier at one label level, with its figures."""

import pandas as pd
import torch

from popcen.classification.cv import summary_frame
from popcen.classification.stages import cae_variant_index, derived_summary, evaluate_cv, images_for
from popcen.classification.tables import read_folds
from popcen.classification.train import TrainSettings
from popcen.features import load_features
from popcen.plots.classification import plot_confusion, plot_f1_bars, plot_roc
from popcen.representation import load_cae
from popcen.rulerunner import run_rule


def main(smk, log):
    level = smk.wildcards.level
    gn, _, samples = load_features(smk.params.features)
    folds = read_folds(smk.input.folds, samples)
    cae, cae_meta = load_cae(smk.input.cae_weights, smk.input.cae_json)
    images = images_for(gn, cae_variant_index(cae_meta, gn.shape[1]), cae.config.to_dict())
    settings = TrainSettings.from_config(smk.params.classification, device=smk.params.device)
    torch.set_num_threads(max(1, smk.threads))

    fine = smk.params.label_columns[0]
    coarse = smk.params.label_columns[1] if len(smk.params.label_columns) > 1 else None
    predictions, tables, trials = evaluate_cv(images, samples, level, folds, settings, cae.config.to_dict(),
                                              cae.state_dict(), coarse=coarse)
    metrics = summary_frame({level: tables}, "cae_classifier")
    if level != fine:
        # the coarse level again, as the coarse class of each fine out-of-fold prediction
        fine_predictions = pd.read_csv(smk.input.fine_predictions, sep="\t", dtype=str)
        derived = summary_frame({level: {"summary": derived_summary(fine_predictions, samples, fine, level)}},
                                f"cae_classifier_from_{fine}")
        metrics = pd.concat([metrics, derived], ignore_index=True)
    for _, row in metrics.iterrows():
        log.info("%s %s %s = %.4f", row.model, row.level, row.metric, row.value)

    predictions.to_csv(smk.output.predictions, sep="\t", index=False)
    metrics.to_csv(smk.output.metrics, sep="\t", index=False)
    tables["per_class"].to_csv(smk.output.per_class, sep="\t", index=False)
    tables["confusion"].to_csv(smk.output.confusion, sep="\t")
    tables["confusion_normalized"].to_csv(smk.output.confusion_normalized, sep="\t", float_format="%.4f")
    tables["auc"].to_csv(smk.output.auc, sep="\t", index=False)
    trials.to_csv(smk.output.trials, sep="\t", index=False)
    cohort = smk.wildcards.cohort
    plot_confusion(tables["confusion"], tables["confusion_normalized"],
                   f"{cohort}: CAE classifier, {level}, out-of-fold", smk.output.confusion_png)
    plot_roc(tables["roc"], tables["auc"], f"{cohort}: one-vs-rest ROC per fold ({level})", smk.output.roc_png)
    plot_f1_bars({"CAE classifier": tables["per_class"]}, f"{cohort}: F1 per {level}", smk.output.f1_png)


run_rule(main, snakemake)
