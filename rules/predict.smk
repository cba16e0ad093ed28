# Predictions for a new cohort: a cohort whose `predict_with` (config/cohorts.tsv) names a trained cohort
# goes through the same vcf_to_zarr and variant_qc jobs, is aligned to the model cohort's variants by
# chrom/pos/ref/alt and classified by the model cohort's classifier, its probabilities calibrated and called
# (unassigned below the thresholds), its distance to the model cohort's populations in the CAE latent space
# scored against the outlier cutoff. No features, LD pruning or training run for it, and nothing of the
# model cohort reruns once its classifier, calibration and reference exist.
# Code: workflow/scripts/popcen/pipeline/predict.py.


rule predict:
    input:
        weights=model_file("classification/model.pt"),
        meta=model_file("classification/model.json"),
        model_variants=model_file("features/variants.tsv"),
        calibration=model_fine_file("calibration.json"),
        reference=model_file("classification/reference.json"),
        cae_weights=model_file("representation/cae.pt"),
        cae_json=model_file("representation/cae.json"),
        zarr=per_contig(f"{RESULTS}/{{cohort}}/zarr/{{contig}}.zarr"),
        qc=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.variants.tsv.gz"),
        samples=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.samples.tsv"),
    output:
        predictions=f"{RESULTS}/{{cohort}}/predict/predictions.tsv",
        matching=f"{RESULTS}/{{cohort}}/predict/variant_matching.tsv.gz",
        overlap=f"{RESULTS}/{{cohort}}/predict/overlap.json",
    log:
        f"{RESULTS}/{{cohort}}/logs/predict.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/predict.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        model_cohort=model_cohort,
        min_overlap=CLASSIFICATION["min_overlap"],
        strand_ambiguous=CLASSIFICATION["strand_ambiguous"],
        min_af_correlation=CLASSIFICATION["min_af_correlation"],
        af_mismatch=CLASSIFICATION["af_mismatch"],
        assign_threshold=CLASSIFICATION["assign_threshold"],
        population_thresholds=CLASSIFICATION["population_thresholds"],
        device=config["device"],
    script:
        "../workflow/scripts/predict.py"
