"""Sample panels (sample, pop, super_pop, ...) and the choice of samples a cohort keeps."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError

log = logging.getLogger("popcen")


def read_panel(path: str | Path, label_columns: list[str]) -> pd.DataFrame:
    """Read a panel (whitespace- or tab-separated, with a header) holding ``sample`` and the label columns.

    Raises
    ------
    PopcenInputError
        The file is missing, a required column is absent, a sample is listed twice, or a label is empty.
    """
    path = Path(path)
    if not path.exists():
        raise PopcenInputError(path, "panel file not found")
    try:
        panel = pd.read_csv(path, sep=r"\s+", dtype=str, keep_default_na=False, engine="python")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PopcenInputError(path, f"cannot parse panel ({exc})") from None
    required = ["sample", *label_columns]
    missing = [c for c in required if c not in panel.columns]
    if missing:
        raise PopcenInputError(
            path, f"panel lacks required column(s) {', '.join(missing)} (has: {', '.join(panel.columns)})"
        )
    dup = panel["sample"][panel["sample"].duplicated()].unique().tolist()
    if dup:
        raise PopcenInputError(path, f"duplicate sample ID(s) in panel: {', '.join(dup[:5])}")
    for col in label_columns:
        empty = panel["sample"][panel[col].str.strip() == ""].tolist()
        if empty:
            raise PopcenInputError(path, f"empty {col!r} for sample(s) {', '.join(empty[:5])}")
    return panel[required].set_index("sample", drop=False)


@dataclass
class SampleSelection:
    """Which VCF columns a cohort keeps, and how many were dropped at each step."""

    vcf_index: np.ndarray  # positions in the VCF's sample list, in VCF order
    samples: pd.DataFrame  # kept samples with their labels, in VCF order
    not_in_panel: int
    not_in_vcf: int
    population_not_selected: int

    def describe(self) -> str:
        return (
            f"{len(self.vcf_index)} samples kept; dropped: {self.not_in_panel} in the VCF but not the panel, "
            f"{self.population_not_selected} of unselected populations; "
            f"{self.not_in_vcf} panel samples are not in the VCF"
        )


def select_samples(
    vcf_samples, panel: pd.DataFrame, label_column: str, populations: list[str] | None, vcf_path=None
) -> SampleSelection:
    """Samples kept = VCF ∩ panel ∩ selected populations (values of ``label_column``), in VCF order."""
    vcf_samples = [str(s) for s in vcf_samples]
    in_panel = np.array([s in panel.index for s in vcf_samples], dtype=bool)
    if populations is not None:
        unknown = sorted(set(populations) - set(panel[label_column]))
        if unknown:
            log.warning("populations not in the panel: %s", ", ".join(unknown))
        wanted = set(populations)
        selected = np.array(
            [ok and panel.at[s, label_column] in wanted for s, ok in zip(vcf_samples, in_panel, strict=True)],
            dtype=bool,
        )
    else:
        selected = in_panel.copy()
    index = np.flatnonzero(selected)
    if index.size == 0:
        what = f"populations {', '.join(populations)}" if populations else "the panel"
        raise PopcenInputError(
            vcf_path,
            f"no sample left after selection: none of the VCF's {len(vcf_samples)} samples is in {what}",
        )
    kept = panel.loc[[vcf_samples[i] for i in index]].reset_index(drop=True)
    return SampleSelection(
        vcf_index=index,
        samples=kept,
        not_in_panel=int((~in_panel).sum()),
        not_in_vcf=int(len(panel) - in_panel.sum()),
        population_not_selected=int(in_panel.sum() - selected.sum()),
    )


def fine_level(label_columns) -> str | None:
    """The finest label level of a cohort (its first label column, e.g. ``pop``), None without labels.

    The cohort sheet lists label columns from fine to coarse: samples are selected, stratified, given
    per-population allele frequencies and cross-validated by this one.
    """
    return label_columns[0] if len(label_columns) else None


def coarse_level(label_columns) -> str | None:
    """The next coarser label level (the second label column, e.g. ``super_pop``), None if there is none."""
    return label_columns[1] if len(label_columns) > 1 else None
