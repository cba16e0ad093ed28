"""Rule introgression_regions: unique introgressed intervals on the reference, dropped rows counted."""

from popcen.introgression.steps import regions_step
from popcen.rulerunner import run_rule


def main(smk, log):
    o = smk.output
    regions_step(smk.input.map, smk.input.genome, o.bed, o.tsv, o.introgressed, o.counts, o.lengths,
                 o.lengths_png)


run_rule(main, snakemake)
