"""Rule demo_panel: the demo cohort's sample panel (sample, pop, super_pop)."""

from popcen.demo import write_panel
from popcen.rulerunner import run_rule


def main(smk, log):
    panel = write_panel(smk.output[0], smk.params.model, smk.params.per_population)
    log.info("panel: %d samples in %s", len(panel), ", ".join(panel["pop"].unique()))


run_rule(main, snakemake)
