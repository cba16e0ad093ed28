"""Rule variant_qc: choose the cohort's samples, then keep or drop (with a reason) every record; the kept
records' alt counts go to a small Zarr group for ld_prune and assemble_features."""

import zarr

from popcen.panel import read_panel, select_samples
from popcen.qc import summarise, variant_qc, write_table
from popcen.rulerunner import run_rule
from popcen.zarrio import KeptAltCounts


def main(smk, log):
    labels = smk.params.label_columns
    panel = read_panel(smk.input.panel, labels)
    store = zarr.open_group(smk.input.zarr, mode="r")
    selection = select_samples(
        store["samples"][:], panel, labels[0] if labels else None, smk.params.populations, vcf_path=smk.input.zarr
    )
    log.info("samples: %s", selection.describe())
    kept = KeptAltCounts(smk.output.alt_counts, selection.samples["sample"].tolist())
    table = variant_qc(store, selection.vcf_index, smk.params.min_call_rate, smk.params.min_mac, smk.params.min_maf,
                       kept_genotypes=kept)
    write_table(table, smk.output.variants)
    selection.samples.to_csv(smk.output.samples, sep="\t", index=False)
    for status, n in summarise(table).items():
        log.info("records %-20s %d", status, n)


run_rule(main, snakemake)
