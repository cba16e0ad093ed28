"""Rule introgression_permutation: gene overlaps of the introgressed set against shuffled control sets."""

from popcen.introgression.steps import permutation_step
from popcen.rulerunner import run_rule


def main(smk, log):
    i, o = smk.input, smk.output
    permutation_step(i.regions, i.genome, i.exclusion, i.genes, smk.params.n, smk.params.seed, smk.threads,
                     o.loci, o.null, o.summary, o.png)


run_rule(main, snakemake)
