"""Rule variant_qc: choose the cohort's samples, then keep or drop (with a reason) every record."""

import zarr

from popcen.panel import read_panel, select_samples
from popcen.qc import summarise, variant_qc
from popcen.rulerunner import run_rule


def main(smk, log):
    labels = smk.params.label_columns
    panel = read_panel(smk.input.panel, labels)
    store = zarr.open_group(smk.input.zarr, mode="r")
    selection = select_samples(
        store["samples"][:], panel, labels[0] if labels else None, smk.params.populations, vcf_path=smk.input.zarr
    )
    log.info("samples: %s", selection.describe())
    table = variant_qc(store, selection.vcf_index, smk.params.min_call_rate, smk.params.min_mac, smk.params.min_maf)
    # gzip level 1: level 9 (pandas' default) cost more than the QC itself on a chr22-scale contig.
    table.to_csv(smk.output.variants, sep="\t", index=False, compression={"method": "gzip", "compresslevel": 1})
    selection.samples.to_csv(smk.output.samples, sep="\t", index=False)
    for status, n in summarise(table).items():
        log.info("records %-20s %d", status, n)


run_rule(main, snakemake)
