"""Rule assemble_features: concatenate the pruned variants of every contig into the cohort's features."""

import pandas as pd
import zarr

from popcen.errors import PopcenInputError
from popcen.features import FeatureWriter, allele_frequencies, variant_ids, write_tables
from popcen.rulerunner import run_rule
from popcen.zarrio import read_alt_counts


def main(smk, log):
    labels = smk.params.label_columns
    samples = pd.read_csv(smk.input.samples[0], sep="\t", dtype=str, keep_default_na=False)
    for other in smk.input.samples[1:]:
        if pd.read_csv(other, sep="\t", dtype=str)["sample"].tolist() != samples["sample"].tolist():
            raise PopcenInputError(other, f"kept samples differ from {smk.input.samples[0]}: every contig's "
                                          "VCF must hold the same samples")
    folder = smk.output.variants.rsplit("/", 1)[0]
    writer = FeatureWriter(folder, len(samples))
    tables = []
    for store_path, kept_path in zip(smk.input.zarr, smk.input.kept, strict=True):
        kept = pd.read_csv(kept_path, sep="\t", dtype={"chrom": str, "id": str, "ref": str, "alt": str})
        store = zarr.open_group(store_path, mode="r")
        # read_alt_counts gives (variants, samples); features are (samples, variants).
        block = read_alt_counts(store, kept["record"].to_numpy(), samples["sample"].tolist()).T
        writer.append(block)
        af = allele_frequencies(block, samples[labels[0]] if labels else None)
        kept["id"] = variant_ids(kept["id"], kept["chrom"], kept["pos"], kept["ref"], kept["alt"])
        tables.append(pd.concat([kept.drop(columns="record").reset_index(drop=True), af], axis=1))
        log.info("%s: %d variants", kept_path, len(kept))
    variants = pd.concat(tables, ignore_index=True)
    write_tables(folder, variants, samples)
    log.info("features: %d samples x %d variants -> %s", len(samples), len(variants), writer.path)


run_rule(main, snakemake)
