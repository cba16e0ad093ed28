"""Rules of rules/report.smk: the cohort's page in the report's Summary category (popcen.summary)."""

from __future__ import annotations

from pathlib import Path

from popcen.io import read_json, read_samples, read_table
from popcen.summary import predicted_cohort_sections, summary_page, trained_cohort_sections


def cohort_summary(input, output, params, wildcards, threads, log):
    """A trained cohort: the key numbers of every stage (inputs ``qc``, ``samples``, ``clustering`` and
    ``classification`` (one table per level of ``params.levels``), ``k_choice``, ``explain_metrics``,
    ``top_variants``); a predicted cohort: its overlap and predictions (inputs ``overlap``, ``predictions``)."""
    i = input
    if "overlap" in i.keys():
        sections = predicted_cohort_sections(
            read_json(i.overlap), read_table(i.predictions, dtype={"predicted": str})
        )
    else:
        levels = list(params.levels)
        sections = trained_cohort_sections(
            qc=read_table(i.qc, index_col=0),
            labels=read_samples(i.samples),
            levels=levels,
            clustering_metrics={lv: read_table(p) for lv, p in zip(levels, i.clustering, strict=True)},
            k_choice=read_json(i.k_choice),
            classification_metrics={
                lv: read_table(p) for lv, p in zip(levels, i.classification, strict=True)
            },
            explain_metrics=read_table(i.explain_metrics),
            top_variants=read_table(i.top_variants),
        )
    Path(output.summary).write_text(summary_page(wildcards.cohort, sections))
    log.info("wrote %s (%d sections)", output.summary, len(sections))
