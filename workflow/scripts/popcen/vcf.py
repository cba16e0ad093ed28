"""VCF input: header checks with clear errors, and conversion to a scikit-allel Zarr store."""

from __future__ import annotations

import gzip
import logging
import shutil
import struct
import subprocess
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from popcen.errors import PopcenInputError
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
            if not first.startswith("##fileformat=VCF"):
                raise PopcenInputError(path, "not a VCF (first line is not ##fileformat=VCF...)")
            for line in fh:
                if line.startswith("##FORMAT=<ID=GT,"):
                    has_gt_format = True
                elif line.startswith("##contig=<ID="):
                    contigs.append(line[len("##contig=<ID="):].split(",")[0].rstrip(">\n"))
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


def _has_index(vcf: Path) -> bool:
    return Path(str(vcf) + ".tbi").exists() or Path(str(vcf) + ".csi").exists()


def vcf_to_zarr(vcf: str | Path, out: str | Path, region: str | None = None, chunk_length: int = 65536,
                threads: int = 1) -> VcfHeader:
    """Convert a VCF (or one region of a tabix-indexed VCF) into a scikit-allel Zarr store.

    Parameters
    ----------
    vcf : VCF path (plain text, gzip or BGZF)
    out : the Zarr store to write
    region : a contig to read through the tabix index (the file then must be BGZF + indexed)
    chunk_length : variants per Zarr chunk
    threads : with more than one and a BGZF VCF with a .tbi index, the contig is cut into pieces that
        ``threads`` processes convert, concatenated in order into one store equal to the single-process
        one (other files are converted by one process)

    The store is written to ``<out>.tmp`` and renamed when complete, so an interrupted conversion never
    leaves a store that looks finished.
    """
    vcf, out = Path(vcf), Path(out)
    header = read_header(vcf)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if region is not None:
        region = region_name(region, header.contigs)
        if not header.bgzf or not _has_index(vcf):
            raise PopcenInputError(vcf, f"selecting contig {region} needs a BGZF VCF with a tabix index; "
                                        "use one file per contig ({contig} in the cohort sheet) or bgzip + tabix it")
    pieces = _pieces(vcf, header, region, threads) if threads > 1 else None
    if pieces:
        _convert_pieces(vcf, tmp, pieces, chunk_length, threads)
    else:
        _convert_one(vcf, tmp, region, chunk_length)
    if not tmp.exists():
        # scikit-allel writes nothing when there is no record: make an explicit empty store.
        raise PopcenInputError(vcf, f"no variant records{' in region ' + region if region else ''}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return header


def _allel_to_zarr(source, tmp: Path, region: str | None, chunk_length: int) -> None:
    import allel

    allel.vcf_to_zarr(
        source, str(tmp), fields=ZARR_FIELDS, types=ZARR_TYPES, alt_number=1, region=region,
        tabix=shutil.which("tabix") if region else None, chunk_length=chunk_length, buffer_size=_BUFFER,
        overwrite=True, log=None,
    )


# scikit-allel reads its input in pieces of this many bytes (its default, 16 KiB, costs more Python calls).
_BUFFER = 1 << 20


def _stream_to_zarr(open_stream, tmp: Path, chunk_length: int) -> None:
    """popcen.vcffast's numpy parser first; scikit-allel, on a fresh stream, when a record does not fit it.

    ``open_stream()`` returns a context manager giving a binary stream of VCF text, header included.
    """
    def template(source, path):
        _allel_to_zarr(source, path, None, chunk_length)

    with open_stream() as stream:
        done = gt_only_to_zarr(stream, tmp, chunk_length, ZARR_FIELDS[1:], template)
    if not done:
        log.info("records other than GT-only a|b calls: converting with scikit-allel's parser")
        with open_stream() as stream:
            _allel_to_zarr(stream, tmp, None, chunk_length)


def _open_vcf(vcf: Path):
    with open(vcf, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(vcf, "rb") if magic == b"\x1f\x8b" else open(vcf, "rb")


class _Tabix:
    """``tabix -h vcf region`` as a context manager giving its stdout; a failure of tabix (not one caused
    by closing its pipe early) is kept in ``problem``."""

    def __init__(self, vcf: str | Path, region: str):
        self.vcf, self.region, self.problem = str(vcf), region, None

    def __call__(self):
        return self

    def __enter__(self):
        self.proc = subprocess.Popen(["tabix", "-h", self.vcf, self.region], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        return self.proc.stdout

    def __exit__(self, *exc):
        finished = self.proc.stdout.read(1) == b""
        self.proc.stdout.close()
        err = self.proc.stderr.read().decode(errors="replace").strip()
        code = self.proc.wait()
        if code != 0 and finished:
            self.problem = f"tabix could not read {self.region} ({err or f'exit {code}'})"
        return False


def _convert_one(vcf: Path, tmp: Path, region: str | None, chunk_length: int) -> None:
    tabix = _Tabix(vcf, region) if region is not None else None
    try:
        _stream_to_zarr(tabix or (lambda: _open_vcf(vcf)), tmp, chunk_length)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PopcenInputError(vcf, f"truncated or corrupt gzip ({exc})") from None
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if "ompressed file ended" in str(exc) or "CRC" in str(exc):
            raise PopcenInputError(vcf, f"truncated or corrupt gzip ({exc})") from None
        raise
    if tabix is not None and tabix.problem:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PopcenInputError(vcf, tabix.problem)


def _pieces(vcf: Path, header: VcfHeader, region: str | None, threads: int) -> list[tuple[str, int, int]] | None:
    """(contig, start, end) pieces, 1-based inclusive, that cover the contig(s) to convert, about 4 per
    thread holding about the same amount of compressed data (read from the tabix index's linear index, so
    that empty stretches such as centromeres or acrocentric arms do not unbalance them). None when the file
    cannot be cut: not BGZF, or no .tbi index (a .csi index has no linear index)."""
    index = Path(str(vcf) + ".tbi")
    if not header.bgzf or not index.exists() or shutil.which("tabix") is None:
        return None
    try:
        offsets = _tbi_linear_index(index)
    except (OSError, EOFError, zlib.error, struct.error, ValueError):
        return None
    contigs = [region] if region is not None else [c for c, o in offsets.items() if o.size]
    if not contigs or any(c not in offsets or not offsets[c].size for c in contigs):
        return None
    size = {c: max(int(offsets[c][-1] - offsets[c][0]), 1) for c in contigs}
    total = sum(size.values())
    pieces = []
    for contig in contigs:
        c = offsets[contig]
        n = max(1, round(4 * threads * size[contig] / total))
        # Window k of the linear index covers [k * 16 kb, (k + 1) * 16 kb); cut where the compressed
        # offset passes each n-th of the contig's data. The last piece runs open-ended.
        cuts = np.unique(np.searchsorted(c, c[0] + np.arange(1, n) * (c[-1] - c[0]) / n))
        starts = [1, *(int(k) * _TBI_WINDOW + 1 for k in cuts if k > 0)]
        ends = [s - 1 for s in starts[1:]] + [2**31 - 1]
        pieces += [(contig, s, e) for s, e in zip(starts, ends, strict=True)]
    return pieces


_TBI_WINDOW = 1 << 14  # bp per linear-index window (tabix format spec)


def _tbi_linear_index(index: Path) -> dict[str, np.ndarray]:
    """Per contig of a .tbi index: the compressed-file offset of the first record of each 16 kb window
    (tabix format spec, section 'Tabix index file format'; holes filled forward)."""
    data = gzip.decompress(index.read_bytes())
    magic, n_ref, _fmt, _seq, _beg, _end, _meta, _skip, l_nm = struct.unpack_from("<4s8i", data, 0)
    if magic != b"TBI\1":
        raise ValueError("not a tabix index")
    names = data[36:36 + l_nm].split(b"\0")[:n_ref]
    pos = 36 + l_nm
    out = {}
    for name in names:
        (n_bin,) = struct.unpack_from("<i", data, pos)
        pos += 4
        for _ in range(n_bin):
            _bin, n_chunk = struct.unpack_from("<Ii", data, pos)
            pos += 8 + 16 * n_chunk
        (n_intv,) = struct.unpack_from("<i", data, pos)
        pos += 4
        ioff = np.frombuffer(data, dtype="<u8", count=n_intv, offset=pos) >> np.uint64(16)
        pos += 8 * n_intv
        out[name.decode()] = np.maximum.accumulate(ioff) if n_intv else ioff
    return out


def _convert_piece(job: tuple[str, str, tuple[str, int, int], int]) -> tuple[str | None, str | None]:
    """One piece through ``tabix`` (which also decompresses, in its own process) into its own store.

    Returns (store, None), (None, None) when the piece holds no record, or (None, problem) when tabix
    failed: the parent raises, as a PopcenInputError does not survive pickling back from a worker.
    """
    vcf, store, (contig, start, end), chunk_length = job
    tabix = _Tabix(vcf, f"{contig}:{start}-{end}")
    _stream_to_zarr(tabix, Path(store), chunk_length)
    if tabix.problem:
        return None, tabix.problem
    return (store if Path(store).exists() else None), None


def _convert_pieces(vcf: Path, tmp: Path, pieces: list[tuple[str, int, int]], chunk_length: int,
                    threads: int) -> None:
    """Convert pieces in parallel and append them, in order, to the first non-empty one.

    tabix returns every record that OVERLAPS a piece, so a deletion starting before a piece's start shows up
    in that piece too: only records with POS >= the piece's start are taken from it.
    """
    import zarr

    parts = tmp.with_name(tmp.name + ".parts")
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir()
    jobs = [(str(vcf), str(parts / f"{i}.zarr"), piece, chunk_length) for i, piece in enumerate(pieces)]
    base = None
    try:
        with ProcessPoolExecutor(max_workers=threads) as pool:
            for (_, _, (_, start, _), _), (done, problem) in zip(jobs, pool.map(_convert_piece, jobs), strict=True):
                if problem:
                    raise PopcenInputError(vcf, problem)
                if done is None:
                    continue
                if base is None:
                    Path(done).rename(tmp)
                    base = zarr.open_group(str(tmp), mode="r+")
                    continue
                part = zarr.open_group(done, mode="r")
                first = int(np.searchsorted(part["variants/POS"][:], start))
                for name in ZARR_FIELDS[1:]:
                    _append_rows(base[name], part[name], first, chunk_length)
                shutil.rmtree(done)
        log.info("%s: %d pieces converted by %d processes", vcf, len(pieces), threads)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _append_rows(target, source, first: int, block: int) -> None:
    for lo in range(first, source.shape[0], block):
        target.append(source[lo:min(lo + block, source.shape[0])], axis=0)
