"""Rule simulate_demo_contig: one contig of the demo cohort -> BGZF VCF + tabix index."""

from popcen.demo import simulate_contig, write_vcf
from popcen.rulerunner import run_rule


def main(smk, log):
    p = smk.params
    ts = simulate_contig(p.model, smk.wildcards.contig, p.length, p.per_population, p.seed)
    write_vcf(ts, smk.wildcards.contig, smk.output.vcf)
    log.info("wrote %s", smk.output.vcf)


run_rule(main, snakemake)
