"""Rule assemble_features: concatenate the pruned variants of every contig into the cohort's features."""

import pandas as pd

from popcen.errors import PopcenInputError
from popcen.features import FeatureWriter, allele_frequencies, variant_ids, write_tables
from popcen.rulerunner import run_rule
from popcen.zarrio import read_kept_alt_counts


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
    for counts_path, kept_path in zip(smk.input.alt_counts, smk.input.kept, strict=True):
        kept = pd.read_csv(kept_path, sep="\t", dtype={"chrom": str, "id": str, "ref": str, "alt": str})
        # The QC-kept alt counts are (variants, samples); features are (samples, variants).
        _, gn = read_kept_alt_counts(counts_path, samples["sample"].tolist(), kept["record"].to_numpy())
        block = gn.T
        writer.append(block)
        af = allele_frequencies(block, samples[labels[0]] if labels else None)
        kept["id"] = variant_ids(kept["id"], kept["chrom"], kept["pos"], kept["ref"], kept["alt"])
        tables.append(pd.concat([kept.drop(columns="record").reset_index(drop=True), af], axis=1))
        log.info("%s: %d variants", kept_path, len(kept))
    variants = pd.concat(tables, ignore_index=True)
    write_tables(folder, variants, samples)
    log.info("features: %d samples x %d variants -> %s", len(samples), len(variants), writer.path)


run_rule(main, snakemake)
