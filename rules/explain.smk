# Explanations: LightGBM multiclass on the cohort's features, cross-validated on the classifier's folds
# (its metrics beside the CAE classifier's), and SHAP (TreeExplainer) on a model fitted on all samples.
EXPLAIN_DIR = f"{RESULTS}/{{cohort}}/explain"


rule explain:
    input:
        **FEATURES,
        folds=rules.classification_folds.output.folds,
        cae_metrics=lambda wc: expand(f"{RESULTS}/{wc.cohort}/classification/cv/{{level}}/metrics.tsv",
                                      level=label_levels(wc.cohort)),
        cae_per_class=lambda wc: f"{RESULTS}/{wc.cohort}/classification/cv/{label_levels(wc.cohort)[0]}/per_class.tsv",
    output:
        metrics=f"{EXPLAIN_DIR}/metrics_comparison.tsv",
        predictions=f"{EXPLAIN_DIR}/lightgbm_predictions.tsv",
        importance=f"{EXPLAIN_DIR}/shap_importance.tsv",
        top=f"{EXPLAIN_DIR}/top_variants.tsv",
        f1_png=report(
            f"{EXPLAIN_DIR}/f1_comparison.png",
            category="Explanations",
            subcategory="{cohort}",
            caption="../workflow/report/explain_f1.rst",
        ),
        beeswarm=report(
            f"{EXPLAIN_DIR}/shap_beeswarm.png",
            category="Explanations",
            subcategory="{cohort}",
            caption="../workflow/report/explain_beeswarm.rst",
        ),
        waterfall=report(
            f"{EXPLAIN_DIR}/shap_waterfall.png",
            category="Explanations",
            subcategory="{cohort}",
            caption="../workflow/report/explain_waterfall.rst",
        ),
    params:
        features=features_folder,
        label_columns=lambda wc: label_levels(wc.cohort),
        explain=config["explain"],
    log:
        f"{RESULTS}/{{cohort}}/logs/explain.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/explain.tsv"
    conda:
        "../envs/ml.yaml"
    script:
        "../workflow/scripts/explain.py"
