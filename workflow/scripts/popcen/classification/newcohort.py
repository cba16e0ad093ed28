"""A new cohort's genotypes, read from its per-contig QC outputs, ready to be aligned to a model's variants.

Which records are usable: bi-allelic SNVs with an acceptable call rate, i.e. QC status ``kept``, but also
``low_mac`` / ``low_maf``. Frequency filters serve the training of a model; a variant that is rare or
monomorphic in the new cohort (say, a cohort of one population) still carries its true genotypes, which
are better evidence than the training mean they would otherwise get.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError

log = logging.getLogger("popcen")

USABLE_STATUSES = ("kept", "low_mac", "low_maf")


def read_samples(paths) -> pd.DataFrame:
    """The cohort's kept samples (QC's per-contig ``samples.tsv``); every contig must keep the same ones."""
    first = pd.read_csv(paths[0], sep="\t", dtype=str, keep_default_na=False)
    for other in paths[1:]:
        if pd.read_csv(other, sep="\t", dtype=str)["sample"].tolist() != first["sample"].tolist():
            raise PopcenInputError(other, f"kept samples differ from {paths[0]}: every contig's VCF must hold "
                                          "the same samples")
    return first


def read_cohort(zarr_paths, qc_tables, samples: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Alt counts (samples, variants) int8 (-1 missing) and the table ``chrom, pos, ref, alt`` of the
    usable records of every contig (in the order given).

    Parameters
    ----------
    zarr_paths, qc_tables : per-contig scikit-allel stores and ``{contig}.variants.tsv.gz`` QC tables
    samples : the cohort's kept samples (QC's ``samples.tsv``)
    """
    import zarr

    from popcen.zarrio import read_alt_counts

    blocks, tables = [], []
    for store_path, qc_path in zip(zarr_paths, qc_tables, strict=True):
        qc = pd.read_csv(qc_path, sep="\t", dtype={"chrom": str, "id": str, "ref": str, "alt": str})
        if "status" not in qc.columns:
            raise PopcenInputError(qc_path, "QC table has no 'status' column")
        rows = np.flatnonzero(qc["status"].isin(USABLE_STATUSES).to_numpy())
        store = zarr.open_group(str(store_path), mode="r")
        if len(qc) != store["variants/POS"].shape[0]:
            raise PopcenInputError(qc_path, f"{len(qc)} QC rows for {store['variants/POS'].shape[0]} records "
                                            f"in {store_path}")
        blocks.append(read_alt_counts(store, rows, samples).T)
        tables.append(qc.iloc[rows][["chrom", "pos", "ref", "alt"]])
        log.info("%s: %d usable records of %d", qc_path, len(rows), len(qc))
    gn = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(samples), 0), np.int8)
    return gn, pd.concat(tables, ignore_index=True)
