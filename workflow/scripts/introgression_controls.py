"""Rule introgression_controls: one length/chromosome-matched control per region, by bedtools shuffle."""

from popcen.introgression.steps import controls_step
from popcen.rulerunner import run_rule


def main(smk, log):
    i, o = smk.input, smk.output
    cfg = smk.params.cfg
    controls_step(i.regions, i.bed, i.introgressed, i.genome, i.gaps, i.fasta, cfg, cfg["seed"], o.exclusion, o.bed,
                  o.tsv)


run_rule(main, snakemake)
