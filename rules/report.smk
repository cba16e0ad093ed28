# The report's Summary category: one page per cohort with the key numbers of every stage.
# (`snakemake --report results/report.html` builds the report itself; `make demo` does it.)


def summary_inputs(wildcards):
    cohort = wildcards.cohort
    if COHORTS.predict_with(cohort):
        return {
            "overlap": f"{RESULTS}/{cohort}/predict/overlap.json",
            "predictions": f"{RESULTS}/{cohort}/predict/predictions.tsv",
        }
    levels = COHORTS.label_columns(cohort)
    return {
        "qc": f"{RESULTS}/{cohort}/qc/summary.tsv",
        "samples": f"{RESULTS}/{cohort}/features/samples.tsv",
        "clustering": expand(f"{RESULTS}/{cohort}/clustering/{{level}}/metrics.tsv", level=levels),
        "k_choice": f"{RESULTS}/{cohort}/clustering/k_choice.json",
        "classification": expand(f"{RESULTS}/{cohort}/classification/cv/{{level}}/metrics.tsv", level=levels),
        "explain_metrics": f"{RESULTS}/{cohort}/explain/metrics_comparison.tsv",
        "top_variants": f"{RESULTS}/{cohort}/explain/top_variants.tsv",
    }


rule cohort_summary:
    input:
        unpack(summary_inputs),
    output:
        report(
            f"{RESULTS}/{{cohort}}/summary.html",
            category="Summary",
            subcategory="{cohort}",
            caption="../workflow/report/cohort_summary.rst",
        ),
    params:
        levels=lambda wc: COHORTS.label_columns(wc.cohort),
    log:
        f"{RESULTS}/{{cohort}}/logs/cohort_summary.log",
    conda:
        "../envs/genotypes.yaml"
    script:
        "../workflow/scripts/cohort_summary.py"


COHORT_TARGETS.append(lambda cohort: [f"{RESULTS}/{cohort}/summary.html"])
