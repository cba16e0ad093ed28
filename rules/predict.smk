# Predictions for a new cohort: a cohort whose `predict_with` (config/cohorts.tsv) names a trained cohort
# goes through the same vcf_to_zarr and variant_qc jobs, is aligned to the model cohort's variants by
# chrom/pos/ref/alt and classified by the model cohort's classifier, its probabilities calibrated and called
# (unassigned below the thresholds), the fit of its genotypes to the model cohort's populations' allele
# frequencies scored against the outlier cutoff. No features, LD pruning or training run for it, and nothing of the
# model cohort reruns once its classifier, calibration and reference exist. predict also writes the new
# samples' CAE code and their genotypes aligned to the model's variants (int8), from which
# predict_over_reference draws them over the model cohort's reference and predict_admixture gives their
# ancestry proportions (Q) through the model cohort's CEC at each label level.
# Code: workflow/scripts/popcen/pipeline/predict.py.


rule predict:
    input:
        weights=model_file("classification/model.pt"),
        meta=model_file("classification/model.json"),
        model_variants=model_file("features/variants.tsv"),
        calibration=model_fine_file("calibration.json"),
        reference=model_file("classification/reference.json"),
        reference_counts=model_file("classification/reference.npz"),
        cae_weights=model_file("representation/cae.pt"),
        cae_json=model_file("representation/cae.json"),
        zarr=per_contig(f"{RESULTS}/{{cohort}}/zarr/{{contig}}.zarr"),
        qc=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.variants.tsv.gz"),
        samples=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.samples.tsv"),
    output:
        predictions=f"{RESULTS}/{{cohort}}/predict/predictions.tsv",
        matching=f"{RESULTS}/{{cohort}}/predict/variant_matching.tsv.gz",
        overlap=f"{RESULTS}/{{cohort}}/predict/overlap.json",
        latent=f"{RESULTS}/{{cohort}}/predict/latent.tsv",
        aligned=directory(f"{RESULTS}/{{cohort}}/predict/aligned.zarr"),
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


rule predict_over_reference:
    input:
        reference_latent=model_file("representation/latent.tsv"),
        reference_samples=model_file("features/samples.tsv"),
        latent=rules.predict.output.latent,
        predictions=rules.predict.output.predictions,
    output:
        plot=report(
            f"{RESULTS}/{{cohort}}/predict/over_reference.png",
            category="Predictions",
            subcategory="{cohort}",
            caption="../workflow/report/predict_over_reference.rst",
        ),
    log:
        f"{RESULTS}/{{cohort}}/logs/predict_over_reference.log",
    conda:
        "../envs/torch.yaml"
    params:
        model_cohort=model_cohort,
        # the reference is drawn by the level the classifier predicts (the model cohort's fine level)
        label=lambda wc: fine_level(label_levels(model_cohort(wc))),
    script:
        "../workflow/scripts/predict_over_reference.py"


rule predict_admixture:
    input:
        aligned=rules.predict.output.aligned,
        predictions=rules.predict.output.predictions,
        model_variants=model_file("features/variants.tsv"),
        cec_weights=lambda wc: model_file(f"clustering/{wc.level}/cec.pt")(wc),
        cec_json=lambda wc: model_file(f"clustering/{wc.level}/cec.json")(wc),
        model_q=lambda wc: model_file(f"admixture/{wc.level}/Q.tsv")(wc),
    output:
        q=f"{RESULTS}/{{cohort}}/predict/admixture/{{level}}/Q.tsv",
        plot=report(
            f"{RESULTS}/{{cohort}}/predict/admixture/{{level}}/structure.png",
            category="Ancestry proportions",
            subcategory="{cohort}",
            caption="../workflow/report/predict_admixture.rst",
        ),
    log:
        f"{RESULTS}/{{cohort}}/logs/predict_admixture/{{level}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/predict_admixture/{{level}}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        model_cohort=model_cohort,
        k=lambda wc: k_setting(wc.level),  # for the caption
        device=config["device"],
    script:
        "../workflow/scripts/predict_admixture.py"
