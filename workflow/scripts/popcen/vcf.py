"""VCF input: header checks with clear errors, and conversion to a scikit-allel Zarr store."""

from __future__ import annotations

import gzip
import logging
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from popcen.cohorts import bcf_problem
from popcen.errors import PopcenInputError
from popcen.vcfcheck import CheckedStream, PloidyStream, RecordChecks, check_bgzf_eof
from popcen.vcffast import gt_only_to_zarr

log = logging.getLogger("popcen")

# What the rest of the pipeline reads from the Zarr store. REF/ALT are kept as Python strings ('O'):
# a fixed-width 'S1' would cut a long indel to one base and make it look like a SNV.
ZARR_FIELDS = [
    "samples",
    "variants/CHROM",
    "variants/POS",
    "variants/ID",
    "variants/REF",
    "variants/ALT",
    "variants/numalt",
    "calldata/GT",
]
ZARR_TYPES = {"variants/REF": "O", "variants/ALT": "O", "variants/ID": "O", "variants/CHROM": "O"}


@dataclass
class VcfHeader:
    samples: list[str]
    has_gt: bool
    contigs: list[str]
    bgzf: bool


def _is_bgzf(path: Path) -> bool:
    # BGZF = gzip members with the 'BC' extra subfield (RFC 1952 FEXTRA); plain gzip has none.
    with open(path, "rb") as fh:
        head = fh.read(18)
    return len(head) >= 18 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", errors="replace")
    return open(path, errors="replace")


def read_header(path: str | Path) -> VcfHeader:
    """Read and check a VCF's header (plain text, plain gzip or BGZF).

    Raises
    ------
    PopcenInputError
        Missing file, unreadable or truncated gzip, no ``#CHROM`` line, no GT field, duplicate sample IDs.
    """
    path = Path(path)
    if not path.exists():
        raise PopcenInputError(path, "VCF not found")
    contigs: list[str] = []
    has_gt_format = False
    try:
        with _open_text(path) as fh:
            first = fh.readline()
            if first.startswith("BCF"):  # a BCF under another name (BGZF-compressed, magic "BCF\\2")
                raise PopcenInputError(path, bcf_problem(str(path)))
            if not first.startswith("##fileformat=VCF"):
                raise PopcenInputError(path, "not a VCF (first line is not ##fileformat=VCF...)")
            for line in fh:
                if line.startswith("##FORMAT=<ID=GT,"):
                    has_gt_format = True
                elif line.startswith("##contig=<ID="):
                    contigs.append(line[len("##contig=<ID=") :].split(",")[0].rstrip(">\n"))
                elif line.startswith("#CHROM"):
                    columns = line.rstrip("\n").split("\t")
                    break
                elif not line.startswith("##"):
                    raise PopcenInputError(path, "no #CHROM header line before the first record")
            else:
                raise PopcenInputError(path, "no #CHROM header line (empty or truncated file)")
            first_record = fh.readline()
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise PopcenInputError(path, f"truncated or corrupt gzip ({exc})") from None
    samples = columns[9:] if len(columns) > 9 else []
    if not samples:
        raise PopcenInputError(path, "VCF has no sample columns")
    fmt = first_record.split("\t", 9)[8].split(":") if first_record.count("\t") >= 8 else []
    has_gt = has_gt_format and (not first_record or "GT" in fmt)
    if not has_gt:
        raise PopcenInputError(path, "VCF has no GT (genotype) field: popcen needs called genotypes")
    seen: set[str] = set()
    dups = sorted({s for s in samples if s in seen or seen.add(s)})
    if dups:
        raise PopcenInputError(path, f"duplicate sample ID(s) in VCF header: {', '.join(dups[:5])}")
    return VcfHeader(samples=samples, has_gt=has_gt, contigs=contigs, bgzf=_is_bgzf(path))


def region_name(contig: str, header_contigs: list[str]) -> str:
    """The name the VCF uses for ``contig``, reconciling a 'chr' prefix either way."""
    if not header_contigs or contig in header_contigs:
        return contig
    alt = contig[3:] if contig.startswith("chr") else f"chr{contig}"
    return alt if alt in header_contigs else contig


def _indexed_contigs(vcf: Path) -> list[str]:
    """The contigs a tabix index lists (``tabix -l``); empty when tabix cannot tell."""
    done = subprocess.run(["tabix", "-l", str(vcf)], capture_output=True, text=True)
    return done.stdout.split() if done.returncode == 0 else []


def _has_index(vcf: Path) -> bool:
    return Path(str(vcf) + ".tbi").exists() or Path(str(vcf) + ".csi").exists()


def vcf_to_zarr(
    vcf: str | Path,
    out: str | Path,
    region: str | None = None,
    chunk_length: int = 65536,
    threads: int = 1,
    contig: str | None = None,
) -> VcfHeader:
    """Convert a VCF (or one region of a tabix-indexed VCF) into a scikit-allel Zarr store.

    Parameters
    ----------
    vcf : VCF path (plain text, gzip or BGZF)
    out : the Zarr store to write
    region : a contig to read through the tabix index (the file then must be BGZF + indexed)
    chunk_length : variants per Zarr chunk
    threads : with more than one, a compressed VCF is decompressed by ``bgzip`` in its own process
        (with ``threads - 1`` threads) while this one parses; a region is always read through ``tabix``,
        which runs in its own process too
    contig : the contig every record must be on ('chr20' and '20' are the same); by default ``region``,
        or else the first record's CHROM

    Notes
    -----
    GT-only VCFs with 'a|b' / 'a/b' calls are parsed by :mod:`popcen.vcffast`, others by scikit-allel;
    the store is the same either way. It is written to ``<out>.tmp`` and renamed when complete, so an
    interrupted conversion never leaves a store that looks finished. Both parsers check every record as
    they read it (:mod:`popcen.vcfcheck`); a bad one raises :class:`PopcenInputError` and leaves nothing.
    Haploid calls (chrX in males) are stored as hemizygous diploid ones (``1`` as ``[1, 1]``: an alt count
    of 2), call by call; a call with more than two alleles is refused (:class:`popcen.vcfcheck.PloidyStream`).
    """
    vcf, out = Path(vcf), Path(out)
    header = read_header(vcf)
    if header.bgzf:
        check_bgzf_eof(vcf)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if region is not None:
        if not header.bgzf or not _has_index(vcf):
            raise PopcenInputError(
                vcf,
                f"selecting contig {region} needs a BGZF VCF with a tabix index; "
                "use one file per contig ({contig} in the cohort sheet) or bgzip + tabix it",
            )
        # Without ##contig lines the index still knows the file's contig names ('20' or 'chr20').
        indexed = _indexed_contigs(vcf)
        region = region_name(region, header.contigs or indexed)
        if indexed and region not in indexed:
            shown = ", ".join(indexed[:8]) + (", ..." if len(indexed) > 8 else "")
            raise PopcenInputError(
                vcf,
                f"contig {region} has no record in this file (its index lists {shown}); "
                "check the cohort sheet's contigs",
            )
    pipe = None
    if region is not None:
        pipe = _Pipe(["tabix", "-h", str(vcf), region], f"tabix could not read {region}")
    elif threads > 1 and _is_gzip(vcf) and shutil.which("bgzip"):
        pipe = _Pipe(["bgzip", "-dc", "-@", str(threads - 1), str(vcf)], "truncated or corrupt gzip")
    checks = lambda: RecordChecks(vcf, len(header.samples), contig or region, region)  # noqa: E731
    try:
        _stream_to_zarr(pipe or (lambda: _open_vcf(vcf)), tmp, chunk_length, checks)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PopcenInputError(vcf, f"truncated or corrupt gzip ({exc})") from None
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if "ompressed file ended" in str(exc) or "CRC" in str(exc):
            raise PopcenInputError(vcf, f"truncated or corrupt gzip ({exc})") from None
        raise
    except BaseException as exc:  # a bad record (PopcenInputError), an interrupt: no half-written store
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, PopcenInputError) and pipe is not None and pipe.problem:
            # bgzip/tabix stopped at damage: the cut line it passed on is the symptom, not the cause.
            raise PopcenInputError(vcf, pipe.problem) from None
        raise
    if pipe is not None and pipe.problem:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PopcenInputError(vcf, pipe.problem)
    if not tmp.exists():
        # scikit-allel writes nothing when there is no record: make an explicit empty store.
        raise PopcenInputError(vcf, f"no variant records{' in region ' + region if region else ''}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return header


def _allel_to_zarr(source, tmp: Path, region: str | None, chunk_length: int) -> None:
    import allel

    allel.vcf_to_zarr(
        source,
        str(tmp),
        fields=ZARR_FIELDS,
        types=ZARR_TYPES,
        alt_number=1,
        region=region,
        tabix=shutil.which("tabix") if region else None,
        chunk_length=chunk_length,
        buffer_size=_BUFFER,
        overwrite=True,
        log=None,
    )


# scikit-allel reads its input in pieces of this many bytes (its default, 16 KiB, costs more Python calls).
_BUFFER = 1 << 20


def _stream_to_zarr(open_stream, tmp: Path, chunk_length: int, checks=None) -> None:
    """popcen.vcffast's numpy parser first; scikit-allel, on a fresh stream, when a record does not fit it.

    ``open_stream()`` returns a context manager giving a binary stream of VCF text, header included;
    ``checks()``, when given, a new :class:`popcen.vcfcheck.RecordChecks` for each pass over the records.
    """

    def template(source, path):
        # Short chunks: gt_only_to_zarr sets chunk_length itself (scikit-allel would allocate a whole chunk).
        _allel_to_zarr(source, path, None, 16)

    with open_stream() as stream:
        done = gt_only_to_zarr(
            stream, tmp, chunk_length, ZARR_FIELDS[1:], template, checks() if checks else None
        )
    if not done:
        log.info("records other than GT-only a|b calls: converting with scikit-allel's parser")
        with open_stream() as stream:
            if checks:
                record_checks = checks()
                stream = CheckedStream(PloidyStream(stream, record_checks), record_checks)
            _allel_to_zarr(stream, tmp, None, chunk_length)


def _open_vcf(vcf: Path):
    return gzip.open(vcf, "rb") if _is_gzip(vcf) else open(vcf, "rb")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


class _Pipe:
    """A command's stdout as a context manager (``pipe()`` opens it, as ``_open_vcf`` does). A failure of
    the command, other than one caused by closing its pipe before the end, is kept in ``problem``."""

    def __init__(self, command: list[str], what: str):
        self.command, self.what, self.problem = command, what, None

    def __call__(self):
        return self

    def __enter__(self):
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return self.proc.stdout

    def __exit__(self, *exc):
        finished = self.proc.stdout.read(1) == b""
        self.proc.stdout.close()
        err = self.proc.stderr.read().decode(errors="replace").strip()
        code = self.proc.wait()
        if code != 0 and finished:
            self.problem = f"{self.what} ({err or f'{self.command[0]} exit {code}'})"
        return False
