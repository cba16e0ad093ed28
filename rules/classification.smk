# Ancestry classification: the CAE encoder (frozen unless fine-tuned) + a softmax head, trained on all
# labelled samples (train_classifier) and evaluated by stratified k-fold CV at each label level
# (evaluate_classifier), whose out-of-fold probabilities calibrate it (calibrate_classifier: temperature
# scaling, reliability diagram, calls at the thresholds); the training cohort's leave-one-out genotype
# likelihoods under its populations' allele frequencies set the outlier cutoff (reference_distances).
# Predict reads both.
# Code: workflow/scripts/popcen/pipeline/classification.py.
# The training settings are the classification keys other than the fold, prediction, calibration and
# outlier keys, so that a change of those does not retrain the classifier.
CLASSIFIER_TRAINING = drop(CLASSIFICATION, *NOT_TRAINING_KEYS)
CLS_DIR = f"{RESULTS}/{{cohort}}/classification"


rule classification_folds:
    input:
        samples=FEATURES["samples"],
    output:
        folds=f"{CLS_DIR}/folds.tsv",
    log:
        f"{RESULTS}/{{cohort}}/logs/classification_folds.log",
    conda:
        "../envs/torch.yaml"
    params:
        label_column=lambda wc: fine_level(label_levels(wc.cohort)),
        n_folds=CLASSIFICATION["n_folds"],
        seed=CLASSIFICATION["fold_seed"],
    script:
        "../workflow/scripts/classification_folds.py"


rule train_classifier:
    input:
        **FEATURES,
        **CAE,
    output:
        weights=f"{CLS_DIR}/model.pt",
        meta=f"{CLS_DIR}/model.json",
        losses=f"{CLS_DIR}/losses.tsv",
        trials=f"{CLS_DIR}/trials.tsv",
    log:
        f"{RESULTS}/{{cohort}}/logs/train_classifier.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/train_classifier.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        label_columns=lambda wc: label_levels(wc.cohort),
        training=CLASSIFIER_TRAINING,
        device=config["device"],
    script:
        "../workflow/scripts/train_classifier.py"


# classification.cv_representation: a transductive CV reads the cohort's CAE (train_cae's outputs carry its
# keys); an inductive one trains a CAE per fold with the sections train_cae reads, its params here only then,
# so that a transductive CV neither waits for nor reruns on anything but the cohort's CAE.
CV_INDUCTIVE = CLASSIFICATION["cv_representation"] == "inductive"
FOLD_CAE = {"training": TRAINING, "representation": REPRESENTATION} if CV_INDUCTIVE else None


rule evaluate_classifier:
    input:
        **FEATURES,
        **({} if CV_INDUCTIVE else CAE),
        folds=rules.classification_folds.output.folds,
        fine_predictions=fine_predictions,
    output:
        representation=f"{CLS_DIR}/cv/{{level}}/representation.json",
        predictions=f"{CLS_DIR}/cv/{{level}}/predictions.tsv",
        metrics=f"{CLS_DIR}/cv/{{level}}/metrics.tsv",
        per_class=f"{CLS_DIR}/cv/{{level}}/per_class.tsv",
        confusion=f"{CLS_DIR}/cv/{{level}}/confusion.tsv",
        confusion_normalized=f"{CLS_DIR}/cv/{{level}}/confusion_normalized.tsv",
        auc=f"{CLS_DIR}/cv/{{level}}/auc.tsv",
        trials=f"{CLS_DIR}/cv/{{level}}/trials.tsv",
        confusion_png=report(
            f"{CLS_DIR}/cv/{{level}}/confusion.png",
            category="Classification",
            subcategory="{cohort}",
            caption="../workflow/report/classification_confusion.rst",
            labels={"level": "{level}", "figure": "confusion matrix"},
        ),
        roc_png=report(
            f"{CLS_DIR}/cv/{{level}}/roc.png",
            category="Classification",
            subcategory="{cohort}",
            caption="../workflow/report/classification_roc.rst",
            labels={"level": "{level}", "figure": "ROC curves"},
        ),
        f1_png=report(
            f"{CLS_DIR}/cv/{{level}}/f1.png",
            category="Classification",
            subcategory="{cohort}",
            caption="../workflow/report/classification_f1.rst",
            labels={"level": "{level}", "figure": "F1 per class"},
        ),
    log:
        f"{RESULTS}/{{cohort}}/logs/evaluate_classifier/{{level}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/evaluate_classifier/{{level}}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        label_columns=lambda wc: label_levels(wc.cohort),
        training=CLASSIFIER_TRAINING,
        device=config["device"],
        cv_representation=CLASSIFICATION["cv_representation"],
        fold_cae=FOLD_CAE,
    script:
        "../workflow/scripts/evaluate_classifier.py"


rule calibrate_classifier:
    input:
        predictions=rules.evaluate_classifier.output.predictions,
        samples=FEATURES["samples"],
    output:
        calibration=f"{CLS_DIR}/cv/{{level}}/calibration.json",
        predictions=f"{CLS_DIR}/cv/{{level}}/calibrated_predictions.tsv",
        assignment=f"{CLS_DIR}/cv/{{level}}/assignment.tsv",
        reliability=f"{CLS_DIR}/cv/{{level}}/reliability.tsv",
        reliability_png=report(
            f"{CLS_DIR}/cv/{{level}}/reliability.png",
            category="Classification",
            subcategory="{cohort}",
            caption="../workflow/report/classification_reliability.rst",
            labels={"level": "{level}", "figure": "reliability diagram"},
        ),
    log:
        f"{RESULTS}/{{cohort}}/logs/calibrate_classifier/{{level}}.log",
    conda:
        "../envs/torch.yaml"
    params:
        label_columns=lambda wc: label_levels(wc.cohort),
        assign_threshold=CLASSIFICATION["assign_threshold"],
        population_thresholds=CLASSIFICATION["population_thresholds"],
    script:
        "../workflow/scripts/calibrate_classifier.py"


rule reference_distances:
    input:
        genotypes=FEATURES["genotypes"],
        samples=FEATURES["samples"],
        cae_json=CAE["cae_json"],
        oof_predictions=fine_oof_predictions,
    output:
        reference=f"{CLS_DIR}/reference.json",
        counts=f"{CLS_DIR}/reference.npz",
        distances=f"{CLS_DIR}/cv/reference_distances.tsv",
    log:
        f"{RESULTS}/{{cohort}}/logs/reference_distances.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/reference_distances.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        label_column=lambda wc: fine_level(label_levels(wc.cohort)),
        quantile=CLASSIFICATION["outlier_quantile"],
    script:
        "../workflow/scripts/reference_distances.py"
