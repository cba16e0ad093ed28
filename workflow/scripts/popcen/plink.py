"""PLINK input: a cohort's genotypes as a PLINK 1 (``.bed/.bim/.fam``) or PLINK 2 (``.pgen/.pvar/.psam``)
file set, checked here and converted by plink2 into a BGZF VCF of one contig, which then takes the VCF path
(:func:`popcen.vcf.vcf_to_zarr`, variant QC) with all its checks.

What the conversion does (``plink2 --bfile|--pfile PREFIX --chr C --export vcf bgz id-paste=iid``):

* **Samples** are named by their IID (the .fam's second column, the .psam's ``IID``), the name the panel's
  ``sample`` column must hold; the FID is dropped, so IIDs must be unique in the file set.
* **REF/ALT.** A .pvar states REF and ALT. A .bim does not know which allele is the reference: plink2 takes
  A2 (the 6th column) as REF and A1 (the 5th) as ALT, so the alt counts are counts of A1. A .bed written by
  plink2, or by PLINK 1.9 with ``--keep-allele-order``, from a VCF keeps the VCF's REF as A2, so nothing
  changes; PLINK 1.9 without it makes A1 the minor allele, and at those variants REF/ALT are swapped
  against the genome. A predicted cohort is unaffected (variant matching flips swapped alleles); a
  training cohort is trained on A1 counts, consistent within the cohort, but its ``features/variants.tsv``
  then lists A2 as ``ref``. To state the true reference, fix the file set first:
  ``plink2 --bfile X --ref-from-fa force --fa genome.fa --make-pgen --out X`` (or ``--ref-allele``).
* **Chromosome names** follow the cohort sheet's ``contigs``: ``chr20`` when the sheet says ``chr20``
  (``--output-chr chrM``), ``20`` when it says ``20`` (``--output-chr MT``), whatever the file set holds
  (a .bim of PLINK 1.9 holds ``20``, and ``23``/``24``/``25``/``26`` for X/Y/XY/MT).
* **Resources**: ``--threads`` from the rule, ``--memory`` (MiB) from the job's ``mem_mb``, bounded.

Checks before plink2 runs, each one line naming the file (:class:`PopcenInputError`): a missing member of
the set; a .bed or .pgen that is not one (magic bytes); a .bed whose size is not what its .bim's variants ×
.fam's samples need (truncated, or a .bim/.fam of another file set); a .pgen whose header counts differ
from its .pvar/.psam; duplicate IIDs; the job's contig absent from the set (or, for one set per contig,
other contigs in it). A damaged .pgen body is found by plink2, whose first ``Error:`` line is passed on.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError

log = logging.getLogger("popcen")

MEMBERS = {"plink1": (".bed", ".bim", ".fam"), "plink2": (".pgen", ".pvar", ".psam")}
NAMES = {"plink1": "PLINK 1", "plink2": "PLINK 2"}
# Endings that make a cohort sheet entry a VCF, whatever files lie beside it.
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".gz", ".bgz", ".bcf")
BED_MAGIC = (
    b"\x6c\x1b\x01"  # variant-major .bed (PLINK 1.9 / plink2); b"\x6c\x1b\x00" is the old sample-major
)
PGEN_MAGIC = b"\x6c\x1b"
# plink2 refuses --memory below this (MiB; plink2 2.00a3); a job's mem_mb below it still gets it.
MIN_MEMORY_MB = 640
DEFAULT_MEMORY_MB = 2000
# PLINK's numeric codes of the human non-autosomes.
_CODES = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}


@dataclass(frozen=True)
class FileSet:
    """A PLINK file set: ``kind`` ``plink1`` or ``plink2``, and the path ``prefix`` its members share."""

    kind: str
    prefix: str

    @property
    def members(self) -> list[str]:
        """Genotypes, variants, samples."""
        return [self.prefix + ext for ext in MEMBERS[self.kind]]

    @property
    def genotypes(self) -> str:
        return self.members[0]

    @property
    def variants(self) -> str:
        return self.members[1]

    @property
    def samples(self) -> str:
        return self.members[2]

    @property
    def name(self) -> str:
        return f"{NAMES[self.kind]} file set {self.prefix} ({'/'.join(MEMBERS[self.kind])})"


def file_set(path: str, exists=os.path.exists) -> FileSet | None:
    """The PLINK file set a cohort sheet's ``vcf`` entry names, or None for a VCF.

    A path ending in a member's extension (``x.bed``, ``x.pgen``; ``.bim``, ``.fam``, ``.pvar``, ``.psam``
    too) names its set; a path ending as a VCF (``.vcf.gz``, ``.gz``, ...) is a VCF; any other path is a
    prefix: a PLINK 2 set when a member of one exists there, else a PLINK 1 set when a member of one does,
    else a VCF (a file of that name, or a missing one that Snakemake then names).
    """
    lower = path.lower()
    for kind, extensions in MEMBERS.items():
        for ext in extensions:
            if lower.endswith(ext):
                return FileSet(kind, path[: -len(ext)])
    if lower.endswith(VCF_SUFFIXES):
        return None
    for kind in ("plink2", "plink1"):
        if any(exists(member) for member in FileSet(kind, path).members):
            return FileSet(kind, path)
    return None


def file_set_at(path: str, kind: str) -> FileSet:
    """The ``kind`` file set ``path`` names: the path less a member's extension, or the path as a prefix."""
    for ext in MEMBERS[kind]:
        if path.lower().endswith(ext):
            return FileSet(kind, path[: -len(ext)])
    return FileSet(kind, path)


def normalise_code(name: str) -> str:
    """A chromosome code as PLINK reads it: ``chr20``/``20`` -> ``20``; ``chrX``/``X``/``23`` -> ``X``;
    ``chrM``/``MT``/``26`` -> ``MT``."""
    name = str(name)
    if name[:3].lower() == "chr":
        name = name[3:]
    return _CODES.get(name.upper(), name.upper() if name.upper() in ("X", "Y", "XY", "MT") else name)


def output_chr(contig: str) -> str:
    """plink2's ``--output-chr`` that writes chromosome codes the way the cohort sheet names ``contig``."""
    if contig[:3].lower() == "chr":
        return "chrM"
    if contig.isdigit() and int(contig) > 22:
        return "26"
    return "MT"


# ---------------------------------------------------------------------------------------------- checks
@dataclass
class FileSetInfo:
    samples: list[str]  # IIDs, in file order
    n_variants: int
    contigs: list[str]  # chromosome codes as the file set writes them, in order of first appearance


def check_file_set(fs: FileSet, contig: str, whole: bool = True) -> FileSetInfo:
    """Check a file set before plink2 reads it (module docstring); raise :class:`PopcenInputError`.

    Parameters
    ----------
    fs : the file set
    contig : the job's contig (as the cohort sheet names it): it must hold records
    whole : True for one file set holding every contig; False for a set of this contig only (``{contig}``
        in the sheet), which must hold no other contig
    """
    for member in fs.members:
        if not os.path.exists(member):
            present = [Path(m).name for m in fs.members if os.path.exists(m)]
            zst = (
                " (a .pvar.zst is not read: decompress it with zstd -d)"
                if os.path.exists(f"{member}.zst")
                else ""
            )
            raise PopcenInputError(
                member,
                f"not found: the {fs.name} needs all three files"
                + (f" (only {', '.join(present)} there)" if present else "")
                + f"{zst}; copy the missing one beside the others, or point the cohort sheet at another set",
            )
    samples = read_samples(fs)
    chroms, n_variants = read_variant_chroms(fs)
    if not samples:
        raise PopcenInputError(fs.samples, "holds no sample")
    if not n_variants:
        raise PopcenInputError(fs.variants, "holds no variant")
    seen: set[str] = set()
    dups = sorted({s for s in samples if s in seen or seen.add(s)})
    if dups:
        raise PopcenInputError(
            fs.samples,
            f"duplicate IID(s) {', '.join(dups[:5])}: popcen names samples by IID (the FID is dropped); "
            "make them unique (plink2 --update-ids) or merge FID and IID",
        )
    if fs.kind == "plink1":
        check_bed(fs.genotypes, len(samples), n_variants, fs)
    else:
        check_pgen(fs, len(samples), n_variants)
    codes = [str(c) for c in pd.unique(chroms)]
    want = normalise_code(contig)
    if want not in {normalise_code(c) for c in codes}:
        raise PopcenInputError(
            fs.variants,
            f"contig {contig} has no variant in this file set (it holds {_shown(codes)}); "
            "check the cohort sheet's contigs",
        )
    others = [c for c in codes if normalise_code(c) != want]
    if others and not whole:
        raise PopcenInputError(
            fs.variants,
            f"holds contig(s) {_shown(others)} besides {contig}, but the cohort sheet names one file set per "
            "contig ({contig} in the path): split it (plink2 --chr), or name one file set for all contigs",
        )
    return FileSetInfo(samples=samples, n_variants=n_variants, contigs=codes)


def _shown(names: list[str], n: int = 8) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def read_samples(fs: FileSet) -> list[str]:
    """IIDs of a .fam (second of 6 columns) or a .psam (the ``IID`` column; a header-less .psam is .fam-like)."""
    path = fs.samples
    lines = [line.split() for line in _text_lines(path) if line.strip()]
    if fs.kind == "plink2" and lines and lines[0][0].startswith("#"):
        header = [lines[0][0][1:], *lines[0][1:]]
        if "IID" not in header:
            raise PopcenInputError(path, f"header {' '.join(lines[0])} has no IID column")
        column, rows = header.index("IID"), lines[1:]
    else:
        column, rows = 1, lines
        if fs.kind == "plink1":
            bad = next((k for k, row in enumerate(rows) if len(row) != 6), None)
            if bad is not None:
                raise PopcenInputError(
                    f"{path}:{bad + 1}",
                    f"{len(rows[bad])} columns where a .fam has 6 (FID IID father mother sex phenotype)",
                )
    short = next((k for k, row in enumerate(rows) if len(row) <= column), None)
    if short is not None:
        raise PopcenInputError(f"{path}:{short + 1}", "too few columns for an IID")
    return [row[column] for row in rows]


def read_variant_chroms(fs: FileSet) -> tuple[np.ndarray, int]:
    """The chromosome code of every variant of a .bim or .pvar (``#CHROM`` column), and their number."""
    path = fs.variants
    skip, column = 0, 0
    if fs.kind == "plink2":
        for line in _text_lines(path):
            if line.startswith("##"):
                skip += 1
                continue
            if line.startswith("#"):
                header = line[1:].split()
                if "CHROM" not in header:
                    raise PopcenInputError(path, f"header {line.strip()} has no #CHROM column")
                column, skip = header.index("CHROM"), skip + 1
            break
    try:
        table = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            skiprows=skip,
            usecols=[column],
            dtype=str,
            comment=None,
        )
    except pd.errors.EmptyDataError:
        return np.array([], dtype=object), 0
    except (ValueError, ImportError) as exc:
        raise PopcenInputError(path, f"cannot be read as a {Path(path).suffix} table ({exc})") from None
    chroms = table.iloc[:, 0].to_numpy()
    return chroms, len(chroms)


def _text_lines(path: str):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rt", errors="replace") as fh:
        yield from fh


def check_bed(path: str, n_samples: int, n_variants: int, fs: FileSet) -> None:
    """A .bed (``path``; a .pgen in PLINK 1 mode) holds 3 magic bytes, then per variant ceil(samples / 4)
    bytes: its size is known exactly."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        magic = fh.read(3)
    if magic[:2] != BED_MAGIC[:2]:
        raise PopcenInputError(path, "not a PLINK .bed (its first bytes are not 6c 1b)")
    if magic[2:] != BED_MAGIC[2:]:
        raise PopcenInputError(
            path,
            "sample-major .bed (PLINK < 1.0): rewrite it variant-major with plink2 --bfile X --make-bed --out Y",
        )
    per_variant = (n_samples + 3) // 4
    need = 3 + per_variant * n_variants
    if size == need:
        return
    bim, fam = Path(fs.variants).name, Path(fs.samples).name
    body = size - 3
    if body % per_variant == 0 and body // per_variant != n_variants:
        raise PopcenInputError(
            path,
            f"{size} bytes hold {body // per_variant} variants of {fam}'s {n_samples} samples, but {bim} "
            f"lists {n_variants}: the .bim (or the .fam) belongs to another file set, or the .bed is truncated",
        )
    raise PopcenInputError(
        path,
        f"{size} bytes where {bim}'s {n_variants} variants × {fam}'s {n_samples} samples need {need}: "
        "it is truncated (an interrupted copy?), or the .bim/.fam belong to another file set",
    )


def check_pgen(fs: FileSet, n_samples: int, n_variants: int) -> None:
    """A .pgen's header: magic, storage mode, and its variant and sample counts against the .pvar/.psam."""
    path = fs.genotypes
    with open(path, "rb") as fh:
        head = fh.read(11)
    if head[:2] != PGEN_MAGIC or len(head) < 3:
        raise PopcenInputError(path, "not a PLINK 2 .pgen (its first bytes are not 6c 1b)")
    mode = head[2]
    if mode == 0x01:  # a .bed under a .pgen's name: plink2 reads it
        check_bed(path, n_samples, n_variants, fs)
        return
    if mode not in (0x02, 0x03, 0x10, 0x11) or len(head) < 11:
        raise PopcenInputError(path, f"unknown .pgen storage mode {mode:#04x}, or a truncated header")
    pgen_variants = int.from_bytes(head[3:7], "little")
    pgen_samples = int.from_bytes(head[7:11], "little")
    if (pgen_variants, pgen_samples) != (n_variants, n_samples):
        raise PopcenInputError(
            path,
            f"holds {pgen_variants} variants × {pgen_samples} samples, but {Path(fs.variants).name} lists "
            f"{n_variants} variants and {Path(fs.samples).name} {n_samples} samples: the .pvar/.psam belong "
            "to another file set",
        )
    if mode == 0x02:  # fixed-width 2-bit records: the size is known exactly
        need = 12 + n_variants * ((n_samples + 3) // 4)
        if os.path.getsize(path) < need:
            raise PopcenInputError(
                path, f"{os.path.getsize(path)} bytes where its header's counts need {need}: it is truncated"
            )


# ---------------------------------------------------------------------------------------------- convert
def memory_mb(mem_mb) -> int:
    """plink2's ``--memory``: the job's ``mem_mb`` less a quarter for Python and bgzip, at least plink2's
    minimum; :data:`DEFAULT_MEMORY_MB` when the job states none."""
    if not mem_mb:
        return DEFAULT_MEMORY_MB
    return max(MIN_MEMORY_MB, int(float(mem_mb) * 0.75))


def plink_to_vcf(
    fs: FileSet,
    contig: str,
    out: str | Path,
    whole: bool = True,
    threads: int = 1,
    memory: int = DEFAULT_MEMORY_MB,
    plink2: str = "plink2",
) -> FileSetInfo:
    """Convert one contig of a PLINK file set into a BGZF VCF (module docstring).

    Parameters
    ----------
    fs : the file set (:func:`file_set`)
    contig : the contig, as the cohort sheet names it (its ``chr`` prefix or none is kept in the VCF)
    out : the ``.vcf.gz`` to write (written under a temporary name and renamed when complete)
    whole : one file set for all contigs (True) or one per contig (False)
    threads, memory : plink2's ``--threads`` and ``--memory`` (MiB)

    Returns
    -------
    FileSetInfo of the checked file set
    """
    info = check_file_set(fs, contig, whole)
    exe = shutil.which(plink2)
    if exe is None:
        raise RuntimeError(
            f"{plink2} not found on PATH: PLINK input needs plink2 (apt install plink2, or conda bioconda::plink2)"
        )
    out = Path(out)
    tmp = out.with_name(out.name.removesuffix(".vcf.gz") + ".plink2tmp")
    _remove_outputs(tmp)
    name = next(c for c in info.contigs if normalise_code(c) == normalise_code(contig))
    command = [
        exe,
        "--bfile" if fs.kind == "plink1" else "--pfile",
        fs.prefix,
        "--chr",
        name,
        "--allow-extra-chr",
        "--output-chr",
        output_chr(contig),
        "--export",
        "vcf",
        "bgz",
        "id-paste=iid",
        "--threads",
        str(max(1, int(threads))),
        "--memory",
        str(max(MIN_MEMORY_MB, int(memory))),
        "--out",
        str(tmp),
    ]
    log.info("%s", " ".join(command))
    if fs.kind == "plink1":
        log.info("%s: a .bim has no REF: A2 (6th column) is written as REF, A1 as ALT", fs.variants)
    done = subprocess.run(command, capture_output=True, text=True)
    plink_log = Path(f"{tmp}.log")
    if plink_log.exists():
        log.info("plink2 log:\n%s", plink_log.read_text(errors="replace").strip())
    if done.returncode != 0:
        _remove_outputs(tmp)
        text = f"{done.stderr}\n{done.stdout}"
        error = next((m.group(0) for m in re.finditer(r"Error: [^\n]*", text)), None)
        raise PopcenInputError(
            fs.genotypes,
            f"plink2 could not read the {fs.name}: {error or f'exit {done.returncode}'}",
        )
    Path(f"{tmp}.vcf.gz").replace(out)
    _remove_outputs(tmp)
    return info


def _remove_outputs(tmp: Path) -> None:
    for suffix in (".vcf.gz", ".log"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
