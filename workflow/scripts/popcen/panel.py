"""Sample panels (sample, pop, super_pop, ...) and the choice of samples a cohort keeps."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError

log = logging.getLogger("popcen")


# Cells are separated by any run of spaces or tabs (1000 Genomes panels use tabs, hand-written ones often
# spaces), except that two tabs in a row are an empty cell, as in any TSV: splitting on the run would shift
# every later cell one column left (the sample would get its super-population as its population).
_SEPARATOR = re.compile(r"[ \t]+")


def read_panel(path: str | Path, label_columns: list[str]) -> pd.DataFrame:
    """Read a panel (a header, then one row per sample; cells separated by runs of spaces or tabs; LF or
    CRLF line ends) holding ``sample`` and the label columns.

    Separators at the end of a line open no cell (the 1000 Genomes panel's header ends in two tabs); blank
    lines are skipped.

    Raises
    ------
    PopcenInputError
        The file is missing, a cell is empty (two tabs in a row, or a separator at the start of a line), a
        row has another number of cells than the header, a required column is absent, or a sample is listed
        twice. Problems of one line name it (``file:line``).
    """
    path = Path(path)
    if not path.exists():
        raise PopcenInputError(path, "panel file not found")
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as exc:
        raise PopcenInputError(path, f"cannot parse panel ({exc})") from None
    header, rows = None, []
    for line_no, line in enumerate(lines, 1):
        line = line.rstrip(" \t\r")
        if not line:
            continue
        runs = [m.group() for m in _SEPARATOR.finditer(line)]
        if line[0] in " \t" or any(run.count("\t") > 1 for run in runs):
            # The empty cell is the one after the first separator with two tabs (or the first cell).
            column = 0 if line[0] in " \t" else next(i for i, r in enumerate(runs) if r.count("\t") > 1) + 1
            name = (
                f"{header[column]!r} cell"
                if header and column < len(header)
                else f"cell in column {column + 1}"
            )
            raise PopcenInputError(
                f"{path}:{line_no}",
                f"empty {name} (two tabs in a row, or a line starting with a separator): fill it in "
                "(e.g. NA) or remove the row",
            )
        cells = _SEPARATOR.split(line)
        if header is None:
            header = cells
            dup = sorted({c for c in header if header.count(c) > 1})
            if dup:
                raise PopcenInputError(
                    f"{path}:{line_no}", f"column(s) {', '.join(dup)} named twice in the header"
                )
        elif len(cells) != len(header):
            raise PopcenInputError(
                f"{path}:{line_no}",
                f"{len(cells)} cells where the header has {len(header)} ({' '.join(header)}): give every row "
                "one cell per column, with no empty cell",
            )
        else:
            rows.append(cells)
    if header is None:
        raise PopcenInputError(path, "panel is empty: it needs a header line and one row per sample")
    panel = pd.DataFrame(rows, columns=header, dtype=str)
    required = ["sample", *label_columns]
    missing = [c for c in required if c not in panel.columns]
    if missing:
        raise PopcenInputError(
            path, f"panel lacks required column(s) {', '.join(missing)} (has: {', '.join(panel.columns)})"
        )
    dup = panel["sample"][panel["sample"].duplicated()].unique().tolist()
    if dup:
        raise PopcenInputError(path, f"duplicate sample ID(s) in panel: {', '.join(dup[:5])}")
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
    vcf_samples,
    panel: pd.DataFrame,
    label_column: str,
    populations: list[str] | None,
    vcf_path=None,
    panel_path=None,
) -> SampleSelection:
    """Samples kept = VCF ∩ panel ∩ selected populations (values of ``label_column``), in VCF order.
    ``vcf_path`` / ``panel_path`` name the inputs in the error when nothing is left."""
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
        what = f"populations {', '.join(populations)} of the panel" if populations else "the panel"
        example = ", ".join(vcf_samples[:3]) + (", ..." if len(vcf_samples) > 3 else "")
        raise PopcenInputError(
            panel_path if panel_path is not None else vcf_path,
            f"no sample left after selection: none of the VCF's {len(vcf_samples)} samples "
            f"({example}{', in ' + str(vcf_path) if vcf_path else ''}) is in {what}; check the sample IDs against the panel's "
            "and the cohort sheet's populations",
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
