# Explanations: LightGBM multiclass on the cohort's most differentiated variants (a chi-square across the
# fine-level groups, streamed over every variant; up to explain.max_candidates, chosen again inside each
# training fold), cross-validated on the classifier's folds (its metrics beside the CAE classifier's), and
# SHAP (TreeExplainer, in batches of samples) on a model fitted on all samples.
# Code: workflow/scripts/popcen/pipeline/explain.py.
EXPLAIN_DIR = f"{RESULTS}/{{cohort}}/explain"


rule explain:
    input:
        **FEATURES,
        folds=rules.classification_folds.output.folds,
        cae_metrics=cv_metrics,
        cae_per_class=fine_per_class,
    output:
        metrics=f"{EXPLAIN_DIR}/metrics_comparison.tsv",
        predictions=f"{EXPLAIN_DIR}/lightgbm_predictions.tsv",
        importance=f"{EXPLAIN_DIR}/shap_importance.tsv",
        top=f"{EXPLAIN_DIR}/top_variants.tsv",
        candidates=f"{EXPLAIN_DIR}/candidates.json",
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
    log:
        f"{RESULTS}/{{cohort}}/logs/explain.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/explain.tsv"
    conda:
        "../envs/ml.yaml"
    params:
        label_columns=lambda wc: label_levels(wc.cohort),
        lightgbm=config["explain"]["lightgbm"],
        seed=config["explain"]["seed"],
        top_k=config["explain"]["top_k"],
        sample=config["explain"]["sample"],
        max_candidates=config["explain"]["max_candidates"],
        beeswarm_samples=config["explain"]["beeswarm_samples"],
    script:
        "../workflow/scripts/explain.py"
