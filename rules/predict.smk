# Predictions for a new cohort: a cohort whose `predict_with` (config/cohorts.tsv) names a trained cohort
# goes through the same vcf_to_zarr and variant_qc jobs, is aligned to the model cohort's variants by
# chrom/pos/ref/alt and classified by the model cohort's classifier. No features, LD pruning or training
# run for it, and nothing of the model cohort reruns once its classifier exists.


def model_cohort(wildcards):
    model = COHORTS.predict_with(wildcards.cohort)
    if model is None:
        raise WorkflowError(f"cohort {wildcards.cohort} has no predict_with in {config['cohorts']}")
    if model not in COHORTS.names or COHORTS.predict_with(model):
        raise WorkflowError(f"cohort {wildcards.cohort}: predict_with={model} must name a cohort that trains "
                            f"its own model in {config['cohorts']}")
    return model


def model_file(name):
    def _path(wildcards):
        return f"{RESULTS}/{model_cohort(wildcards)}/{name}"

    return _path


rule predict:
    input:
        weights=model_file("classification/model.pt"),
        meta=model_file("classification/model.json"),
        model_variants=model_file("features/variants.tsv"),
        zarr=per_contig(f"{RESULTS}/{{cohort}}/zarr/{{contig}}.zarr"),
        qc=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.variants.tsv.gz"),
        samples=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.samples.tsv"),
    output:
        predictions=f"{RESULTS}/{{cohort}}/predict/predictions.tsv",
        matching=f"{RESULTS}/{{cohort}}/predict/variant_matching.tsv.gz",
        overlap=f"{RESULTS}/{{cohort}}/predict/overlap.json",
    params:
        model_cohort=model_cohort,
        min_overlap=config["classification"]["min_overlap"],
        strand_ambiguous=config["classification"]["strand_ambiguous"],
        device=config["device"],
    log:
        f"{RESULTS}/{{cohort}}/logs/predict.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/predict.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/predict.py"


def predict_targets(cohort):
    if not COHORTS.predict_with(cohort):
        return []
    return [f"{RESULTS}/{cohort}/predict/predictions.tsv"]


COHORT_TARGETS.append(predict_targets)
