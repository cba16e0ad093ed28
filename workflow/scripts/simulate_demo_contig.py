"""Rule simulate_demo_contig: one contig of the demo cohort and of its held-out 'new' cohort."""

import numpy as np

from popcen.demo import contig_seed, individual_names, new_cohort_transform, simulate_contig, write_vcf
from popcen.rulerunner import run_rule


def main(smk, log):
    p = smk.params
    contig = smk.wildcards.contig
    ts = simulate_contig(p.model, contig, p.length, p.per_population + p.heldout_per_population, p.seed)
    # Individuals are numbered within their population: the first per_population train, the rest are new.
    number = np.array([int(name.rsplit("_", 1)[1]) for name in individual_names(ts)])
    train, heldout = np.flatnonzero(number <= p.per_population), np.flatnonzero(number > p.per_population)
    write_vcf(ts, contig, smk.output.vcf, individuals=train)
    transform = new_cohort_transform(p.new_drop_fraction, p.new_swap_fraction, contig_seed(p.seed + 1, contig))
    # The new cohort names its contigs without 'chr' (as 1000 Genomes does), the demo with it.
    write_vcf(ts, contig.removeprefix("chr"), smk.output.new_vcf, individuals=heldout, transform=transform)
    log.info("wrote %s (%d samples) and %s (%d samples)", smk.output.vcf, train.size, smk.output.new_vcf,
             heldout.size)


run_rule(main, snakemake)
