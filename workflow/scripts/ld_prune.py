"""Rule ld_prune: windowed r² pruning of the QC-kept variants of one contig (+ optional random subset)."""

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError
from popcen.ld import ld_prune, random_subset
from popcen.qc import KEPT
from popcen.rulerunner import run_rule
from popcen.zarrio import read_kept_alt_counts


def main(smk, log):
    p = smk.params
    qc = pd.read_csv(smk.input.variants, sep="\t", dtype={"chrom": str, "id": str, "ref": str, "alt": str})
    samples = pd.read_csv(smk.input.samples, sep="\t", dtype=str)
    rows, gn = read_kept_alt_counts(smk.input.alt_counts, samples["sample"].tolist())
    if not np.array_equal(rows, np.flatnonzero(qc["status"].to_numpy() == KEPT)):
        raise PopcenInputError(smk.input.alt_counts, f"does not hold the records {smk.input.variants} keeps "
                                                     "(written by another variant_qc run: rerun variant_qc)")
    keep = ld_prune(gn, p.window, p.step, p.r2, p.iterations)
    log.info("pruning (window %d, step %d, r2 %.3g, %d iterations): %d of %d variants kept",
             p.window, p.step, p.r2, p.iterations, keep.sum(), len(keep))
    if p.fraction < 1:
        kept_idx = np.flatnonzero(keep)
        sub = random_subset(kept_idx.size, p.fraction, p.seed, key=smk.wildcards.contig)
        keep[:] = False
        keep[kept_idx[sub]] = True
        log.info("random subset of %.3g: %d variants kept", p.fraction, keep.sum())
    out = qc.iloc[rows[keep]][["chrom", "pos", "id", "ref", "alt"]].copy()
    out.insert(0, "record", rows[keep])
    out.to_csv(smk.output.kept, sep="\t", index=False)


run_rule(main, snakemake)
