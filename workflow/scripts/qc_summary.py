"""Rule qc_summary: records kept / dropped per reason and contig, and variants left after pruning."""

import pandas as pd

from popcen.plots.qc import plot_qc_summary
from popcen.qc import summarise
from popcen.rulerunner import run_rule


def main(smk, log):
    rows = {}
    for contig, qc_path, kept_path in zip(smk.params.contigs, smk.input.variants, smk.input.kept, strict=True):
        counts = summarise(pd.read_csv(qc_path, sep="\t", usecols=["status"]))
        counts["records"] = counts.sum()
        counts["ld_pruned_kept"] = sum(1 for _ in open(kept_path)) - 1
        rows[contig] = counts
    table = pd.DataFrame(rows).T
    table.loc["total"] = table.sum()
    table.index.name = "contig"
    table.to_csv(smk.output.table, sep="\t")
    plot_qc_summary(table.drop(index="total"), smk.output.plot)
    log.info("\n%s", table.to_string())


run_rule(main, snakemake)
