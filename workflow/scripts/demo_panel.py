"""Rule demo_panel: sample panels (sample, pop, super_pop) of the demo cohort and of its held-out cohort."""

from popcen.demo import write_panels
from popcen.rulerunner import run_rule


def main(smk, log):
    p = smk.params
    panel, heldout = write_panels(smk.output.panel, smk.output.new_panel, p.model, p.per_population,
                                  p.heldout_per_population)
    log.info("panel: %d samples in %s; held-out cohort: %d samples", len(panel),
             ", ".join(panel["pop"].unique()), len(heldout))


run_rule(main, snakemake)
