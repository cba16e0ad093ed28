"""Rules of rules/demo.smk: the demo cohort and its held-out 'new' cohort, simulated (popcen.demo)."""

from __future__ import annotations

from popcen.demo import (
    contig_seed,
    new_cohort_transform,
    panels,
    simulate_contig,
    split_individuals,
    write_vcf,
)
from popcen.io import write_table


def simulate_demo_contig(input, output, params, wildcards, threads, log):
    """One contig of the demo cohort and of its held-out 'new' cohort (both from one simulation)."""
    p = params
    contig = wildcards.contig
    ts = simulate_contig(p.model, contig, p.length, p.per_population + p.heldout_per_population, p.seed)
    train, heldout = split_individuals(ts, p.per_population)
    write_vcf(ts, contig, output.vcf, individuals=train)
    transform = new_cohort_transform(
        p.new_drop_fraction, p.new_swap_fraction, contig_seed(p.seed + 1, contig)
    )
    # The new cohort names its contigs without 'chr' (as 1000 Genomes does), the demo with it.
    write_vcf(ts, contig.removeprefix("chr"), output.new_vcf, individuals=heldout, transform=transform)
    log.info(
        "wrote %s (%d samples) and %s (%d samples)", output.vcf, train.size, output.new_vcf, heldout.size
    )


def demo_panel(input, output, params, wildcards, threads, log):
    """Sample panels (sample, pop, super_pop) of the demo cohort and of its held-out cohort."""
    p = params
    panel, heldout = panels(p.model, p.per_population, p.heldout_per_population)
    write_table(panel, output.panel)
    write_table(heldout, output.new_panel)
    log.info(
        "panel: %d samples in %s; held-out cohort: %d samples",
        len(panel),
        ", ".join(panel["pop"].unique()),
        len(heldout),
    )
