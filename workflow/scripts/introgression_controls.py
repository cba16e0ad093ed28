"""Rule introgression_controls: one length/chromosome-matched control per region, by bedtools shuffle."""

from popcen.introgression.steps import controls_step
from popcen.rulerunner import run_rule


def main(smk, log):
    i, o = smk.input, smk.output
    controls_step(i.regions, i.bed, i.genome, i.gaps, i.fasta, smk.params.cfg, smk.params.cfg["seed"],
                  o.exclusion, o.bed, o.tsv)


run_rule(main, snakemake)
