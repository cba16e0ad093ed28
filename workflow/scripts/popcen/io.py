"""Reading and writing the tables that rules share, with one set of dtypes and one float format.

- samples tables (``sample`` then the label columns): every column a string, empty cells kept as "";
- variant tables (``id, chrom, pos, ref, alt, af, af_<POP>...``): chrom, id and alleles as strings;
- other tables: tab-separated with a header, floats written as ``%.6g``;
- JSON: indented, one trailing newline, numpy scalars and paths written as plain values.

The feature set of a cohort (``features/genotypes.zarr``, ``variants.tsv``, ``samples.tsv``) is read by
:func:`popcen.features.read_features` (it needs zarr; this module does not).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

FLOAT_FORMAT = "%.6g"
VARIANT_DTYPES = {"chrom": str, "id": str, "ref": str, "alt": str}


def read_samples(path: str | Path) -> pd.DataFrame:
    """A samples table: every column a string, empty cells as ""."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def read_variants(path: str | Path) -> pd.DataFrame:
    """A variant table: chrom, id, ref and alt as strings (chromosome ``1`` is not the number 1)."""
    return pd.read_csv(path, sep="\t", dtype=VARIANT_DTYPES)


def read_table(path: str | Path, **kwargs) -> pd.DataFrame:
    """Any other tab-separated table with a header (``sample`` always as a string)."""
    dtype = {"sample": str, **kwargs.pop("dtype", {})}
    return pd.read_csv(path, sep="\t", dtype=dtype, **kwargs)


def write_table(
    table: pd.DataFrame, path: str | Path, float_format: str = FLOAT_FORMAT, index: bool = False
) -> None:
    """Write a table tab-separated with a header (samples and variant tables too)."""
    table.to_csv(path, sep="\t", index=index, float_format=float_format)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_json(obj, path: str | Path) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, default=_plain) + "\n")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())
