# The report's Summary category: one page per cohort with the key numbers of every stage.
# (`snakemake --report results/report.html` builds the report itself; `make demo` does it.)


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
