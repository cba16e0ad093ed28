"""Rule cohort_summary: the cohort's page in the report's Summary category."""

from popcen.rulerunner import run_rule
from popcen.summary import predicted_cohort_sections, trained_cohort_sections, write_summary_page


def main(smk, log):
    i = smk.input
    if "overlap" in i.keys():
        sections = predicted_cohort_sections(i.overlap, i.predictions)
    else:
        levels = smk.params.levels
        sections = trained_cohort_sections(
            i.qc, i.samples, dict(zip(levels, i.clustering, strict=True)), i.k_choice,
            dict(zip(levels, i.classification, strict=True)), i.explain_metrics, i.top_variants,
        )
    write_summary_page(smk.wildcards.cohort, sections, smk.output[0])
    log.info("wrote %s (%d sections)", smk.output[0], len(sections))


run_rule(main, snakemake)
