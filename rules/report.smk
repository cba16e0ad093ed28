# The report's Summary category: one page per cohort with the key numbers of every stage.
# (`snakemake --report results/report.html` builds the report itself; `make demo` does it.)
# Code: workflow/scripts/popcen/pipeline/report.py; library: popcen/summary.py.


rule cohort_summary:
    input:
        unpack(summary_inputs),
    output:
        summary=report(
            f"{RESULTS}/{{cohort}}/summary.html",
            category="Summary",
            subcategory="{cohort}",
            caption="../workflow/report/cohort_summary.rst",
        ),
    log:
        f"{RESULTS}/{{cohort}}/logs/cohort_summary.log",
    conda:
        "../envs/genotypes.yaml"
    params:
        levels=lambda wc: COHORTS.label_columns(wc.cohort),
    script:
        "../workflow/scripts/cohort_summary.py"
