"""The cohort sheet (config/cohorts.tsv): one row per cohort, parsed into paths and contigs."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from popcen.errors import PopcenInputError
from popcen.plink import FileSet, file_set, file_set_at

REQUIRED_COLUMNS = ("name", "vcf", "panel", "contigs")


def read_cohort_table(path: str | Path) -> pd.DataFrame:
    """Read the cohort sheet as strings (empty cells become ''), checking the required columns."""
    path = Path(path)
    if not path.exists():
        raise PopcenInputError(path, "cohort sheet not found")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise PopcenInputError(
            path, f"missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED_COLUMNS)}"
        )
    dup = table["name"][table["name"].duplicated()].tolist()
    if dup:
        raise PopcenInputError(path, f"cohort name(s) listed twice: {', '.join(dup)}")
    for row in table.itertuples(index=False):
        for column, wildcards in (("vcf", ("contig",)), ("panel", ())):
            problem = path_problem(getattr(row, column), wildcards)
            if problem:
                raise PopcenInputError(
                    path, f"cohort {row.name}: {column} {getattr(row, column)!r} {problem}"
                )
        if row.vcf.lower().endswith(".bcf"):
            raise PopcenInputError(path, f"cohort {row.name}: vcf {row.vcf!r} {bcf_problem(row.vcf)}")
    return table


def path_problem(path: str, wildcards: tuple[str, ...] = ()) -> str | None:
    """Why a configured path cannot be used as written, or None: a ``$`` (paths are taken literally: no
    ``$HOME`` or ``${VAR}`` expansion, and Snakemake would read ``{VAR}`` as a wildcard and fail with a
    WildcardError), or braces other than the ``{wildcard}`` s the field is filled with."""
    if "$" in path:
        return (
            "holds '$': paths are taken literally (no $HOME or ${VAR} expansion); "
            "write the path out (an absolute path, or one relative to the working directory)"
        )
    allowed = {"{" + w + "}" for w in wildcards}
    bad = [b for b in re.findall(r"\{[^{}]*\}|[{}]", path) if b not in allowed]
    if bad:
        filled = (
            f"only {', '.join(sorted(allowed))} is filled in here" if allowed else "none is filled in here"
        )
        return f"holds {bad[0]!r}: braces are Snakemake wildcards and {filled}; rename the file or folder"
    return None


def bcf_problem(vcf: str) -> str:
    """The refusal of a BCF, with the command that converts it (one per contig for a {contig} pattern). A
    ``.bcf`` converts to a ``.vcf.gz`` beside it; a BCF under a VCF's name is renamed first."""
    each = " for each contig" if "{contig}" in vcf else ""
    if vcf.lower().endswith(".bcf"):
        out, steps, then = f"{vcf[: -len('.bcf')]}.vcf.gz", [], " and point the cohort sheet at it"
        bcf = vcf
    else:
        stem = re.sub(r"(\.vcf)?(\.b?gz)?$", "", vcf)
        out, bcf, then = vcf, f"{stem}.bcf", ""
        steps = [f"mv {shlex.quote(vcf)} {shlex.quote(bcf)}"]
    steps += [
        f"bcftools view -Oz -o {shlex.quote(out)} {shlex.quote(bcf)}",
        f"tabix -p vcf {shlex.quote(out)}",
    ]
    return f"is a BCF: popcen reads VCF (BGZF); convert it{each} with `{' && '.join(steps)}`{then}"


def expand_contigs(spec: str) -> list[str]:
    """``"1-22"`` -> ``["1", ..., "22"]``; ``"chr1-chr3,chrX"`` -> ``["chr1", "chr2", "chr3", "chrX"]``."""
    contigs: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        m = re.fullmatch(r"(chr)?(\d+)-(chr)?(\d+)", part)
        if m:
            prefix = m.group(1) or ""
            lo, hi = int(m.group(2)), int(m.group(4))
            if lo > hi:
                raise ValueError(f"contig range {part!r} runs backwards")
            contigs.extend(f"{prefix}{i}" for i in range(lo, hi + 1))
        elif part:
            contigs.append(part)
    if len(set(contigs)) != len(contigs):
        raise ValueError(f"contig list {spec!r} names a contig twice")
    return contigs


@dataclass
class Cohorts:
    """Validated cohort sheet with the lookups the rules need."""

    table: pd.DataFrame

    def __post_init__(self):
        self.table = self.table.set_index("name", drop=False)

    @property
    def names(self) -> list[str]:
        return list(self.table["name"])

    def row(self, cohort: str) -> pd.Series:
        return self.table.loc[cohort]

    def contigs(self, cohort: str) -> list[str]:
        return expand_contigs(self.row(cohort)["contigs"])

    def vcf(self, cohort: str, contig: str) -> str:
        pattern = self.row(cohort)["vcf"]
        return pattern.replace("{contig}", contig)

    def vcf_is_per_contig(self, cohort: str) -> bool:
        return "{contig}" in self.row(cohort)["vcf"]

    def input_format(self, cohort: str) -> str:
        """``vcf``, ``plink1`` or ``plink2``: what the sheet's ``vcf`` entry names (:func:`popcen.plink.file_set`;
        a ``{contig}`` pattern that names a bare prefix is looked up for each contig until one has a PLINK
        file there: a cohort is all one format)."""
        pattern = self.row(cohort)["vcf"]
        paths = (
            [pattern.replace("{contig}", c) for c in self.contigs(cohort)]
            if "{contig}" in pattern
            else [pattern]
        )
        for path in paths:
            found = file_set(path)
            if found is not None:
                return found.kind
        return "vcf"

    def plink(self, cohort: str, contig: str) -> FileSet | None:
        """The cohort's PLINK file set holding ``contig`` (one for all contigs, or the contig's own); None for
        a VCF cohort."""
        kind = self.input_format(cohort)
        return None if kind == "vcf" else file_set_at(self.vcf(cohort, contig), kind)

    def region(self, cohort: str, contig: str) -> str | None:
        """The contig to read through the tabix index of a VCF that holds several; None for a VCF per contig
        and for a PLINK file set (converted one contig at a time)."""
        if self.vcf_is_per_contig(cohort) or self.input_format(cohort) != "vcf":
            return None
        return contig

    def panel(self, cohort: str) -> str:
        return self.row(cohort)["panel"]

    def label_columns(self, cohort: str) -> list[str]:
        return [c.strip() for c in self.row(cohort)["label_columns"].split(",") if c.strip()]

    def populations(self, cohort: str) -> list[str] | None:
        """Populations (values of the first label column) to keep; None keeps all."""
        spec = self.row(cohort)["populations"].strip()
        if spec in ("", "all"):
            return None
        return [p.strip() for p in spec.split(",") if p.strip()]

    def predict_with(self, cohort: str) -> str | None:
        value = str(self.row(cohort).get("predict_with", "") or "").strip()
        return value or None

    def trained(self) -> list[str]:
        """Cohorts that train their own models (not predicted by another cohort's)."""
        return [c for c in self.names if self.predict_with(c) is None]
