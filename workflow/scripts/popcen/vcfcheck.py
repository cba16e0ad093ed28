"""Checks of a VCF's records as they are read, shared by the fast parser (:mod:`popcen.vcffast`) and
scikit-allel's.

Every record must have the header's column count (no column empty), a POS that is an integer from 1 to
2^31 - 1 (the store holds it as int32), the job's contig as CHROM, and a POS not below the previous
record's. scikit-allel on its own reads a garbage POS as 0 and ``1O6`` as 1, pads a short record with
missing calls, drops the extra calls of a long one and takes records of any chromosome in any order: all of
which would pass QC into the features. A BGZF file must end with its EOF marker: without it, a file cut
at a block boundary (an interrupted copy) reads as complete. Each violation raises
:class:`PopcenInputError` with one line: where (``file:line``), what is wrong, and what to do.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from popcen.errors import PopcenInputError

# The empty BGZF block htslib writes at the end of every BGZF file (SAM/BAM specification, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
MAX_POS = 2**31 - 1


def check_bgzf_eof(path: str | Path) -> None:
    """Raise when a BGZF file does not end with the EOF marker (read: its last 28 bytes only)."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - len(BGZF_EOF)))
        tail = fh.read()
    if tail != BGZF_EOF:
        raise PopcenInputError(
            path,
            "BGZF file has no end-of-file marker: it is truncated (an interrupted download or copy?); "
            "copy or download it again",
        )


def contig_names(contig: str) -> set[str]:
    """The names a record of ``contig`` may carry: with and without the 'chr' prefix (20 = chr20), as
    :func:`popcen.vcf.region_name` reconciles them."""
    other = contig[3:] if contig.startswith("chr") else f"chr{contig}"
    return {contig, other}


class RecordChecks:
    """The checks of one pass over a VCF's records (make a new one for another pass).

    Parameters
    ----------
    path : the VCF, for messages
    n_samples : sample columns of the header (a record has 9 + n_samples columns)
    contig : the job's contig; None takes the first record's CHROM (a store holds one contig)
    region : set when the records are tabix's output for this region: they are then numbered within the
        region (the file's line numbers are unknown)
    """

    def __init__(self, path, n_samples: int, contig: str | None = None, region: str | None = None):
        self.path, self.region = str(path), region
        self.n_columns = 9 + n_samples
        self.contig = contig
        self.names = None if contig is None else contig_names(contig)
        self.last_pos = 0
        self.header_lines = 0  # lines up to the #CHROM line

    def fail(self, line_no: int, problem: str, fix: str):
        where = (
            f"{self.path} (record {line_no - self.header_lines} of region {self.region})"
            if self.region
            else f"{self.path}:{line_no}"
        )
        raise PopcenInputError(where, f"{problem}; {fix}")

    def record(self, line: bytes, line_no: int, maybe_empty: bool = True) -> None:
        """Check one record line (without its newline); raise on the first problem. ``maybe_empty=False``
        leaves out the search for an empty column (a caller that has ruled it out for many lines at once)."""
        columns = line.count(b"\t") + 1
        if columns != self.n_columns:
            self.fail(
                line_no,
                f"{columns} column{'s' * (columns != 1)} where the header has {self.n_columns}",
                "the line is cut or malformed (a cut line often means a truncated file): fix or remove it",
            )
        if maybe_empty and (b"\t\t" in line or line.startswith(b"\t") or line.endswith(b"\t")):
            empty = line.split(b"\t").index(b"") + 1
            self.fail(
                line_no,
                f"column {empty} is empty",
                "the line is cut or malformed (a missing call is '.' or './.'): fix or remove it",
            )
        tab1 = line.find(b"\t")
        chrom, pos_text = line[:tab1].decode(errors="replace"), line[tab1 + 1 : line.find(b"\t", tab1 + 1)]
        if self.names is None:
            self.contig, self.names = chrom, {chrom}
        if chrom not in self.names:
            self.fail(
                line_no,
                f"CHROM {chrom!r} is not this job's contig {self.contig!r}",
                "give each contig its own VCF (bcftools view -r), or one tabix-indexed VCF for all",
            )
        pos = int(pos_text) if pos_text.isdigit() else 0
        if not 1 <= pos <= MAX_POS:
            self.fail(
                line_no,
                f"POS {pos_text.decode(errors='replace')!r} is not an integer from 1 to {MAX_POS}",
                "fix or remove the record",
            )
        if pos < self.last_pos:
            self.fail(
                line_no,
                f"POS {pos} comes after POS {self.last_pos}: the records are not sorted",
                "sort the VCF (bcftools sort -Oz -o sorted.vcf.gz in.vcf.gz)",
            )
        self.last_pos = pos

    def first_bad(self, chrom: np.ndarray, pos: np.ndarray) -> int:
        """Index of the first of a block of parsed records (CHROM and POS arrays, in file order) that breaks a
        check, or -1 when all pass (the fast parser's check: numpy on the block, no per-record Python)."""
        if not len(pos):
            return -1
        if self.names is None:
            self.contig, self.names = chrom[0], {chrom[0]}
        bad = pos < 1
        bad[0] |= pos[0] < self.last_pos
        bad[1:] |= pos[1:] < pos[:-1]
        if not set(chrom.tolist()) <= self.names:  # the usual case, one name, costs a set of a block
            bad |= ~np.isin(chrom, list(self.names))
        if bad.any():
            return int(np.argmax(bad))
        self.last_pos = int(pos[-1])
        return -1


class CheckedStream:
    """A binary stream of VCF text whose record lines are checked before they are passed on.

    scikit-allel reads its input by ``readinto``; every complete line of what it gets is checked first (the
    last, partial one with the next read), so a bad record stops the conversion before it is stored.
    """

    def __init__(self, raw, checks: RecordChecks):
        self.raw, self.checks = raw, checks
        self.tail = b""  # the partial line at the end of the last read
        self.line_no = 0
        self.in_header = True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        with memoryview(buffer) as view:
            data = self.tail + bytes(view[:n])
        # The complete lines; at the end of the stream the last line needs no newline.
        end = data.rfind(b"\n") + 1 if n else len(data)
        self.tail = data[end:]
        start = 0
        while self.in_header and start < end:
            stop = _line_end(data, start, end)
            self.line_no += 1
            if data.startswith(b"#CHROM", start):
                self.in_header, self.checks.header_lines = False, self.line_no
            start = stop + 1
        if start < end:
            # Searching every line for an empty column would cost a third of scikit-allel's own parsing:
            # numpy looks for two separators in a row (tab or newline, bytes 9 and 10, with the control
            # bytes below them: one comparison; a blank line matches too) in the whole piece first.
            text = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
            separator = text <= 10
            maybe_empty = bool((separator[1:] & separator[:-1]).any())
            maybe_empty |= data.startswith(b"\t", start) or data[end - 1 : end] == b"\t"
            self.line_no = check_lines(self.checks, data, start, end, self.line_no, maybe_empty)
        return n


class PloidyStream:
    """A binary stream of VCF text whose haploid calls are written as diploid homozygous ones (``1`` ->
    ``1/1``, ``0`` -> ``0/0``, ``.`` -> ``./.``), so that scikit-allel reads them as calls.

    The convention (hemizygous): a haploid alt call counts 2, as a homozygous diploid one, and a haploid
    ref call 0; chrX in males and chrY are read as calls (scikit-allel alone stores ``1`` as ``[1, -1]``,
    which every alt count reads as missing: a chrX cohort would lose every variant to the call-rate
    filter). Ploidy is each call's own: a record mixing haploid (males) and diploid (females, the PAR)
    calls keeps the diploid calls as they are. A half-missing diploid call (``1/.``) stays missing. A call
    with more than two alleles stops the conversion (``file:line``): popcen counts 0 to 2 alt alleles,
    and scikit-allel would silently drop the third. Each line gets a test at C speed (a translate and a few
    substring searches); only those it flags are parsed and rewritten (about 10% of scikit-allel's time).
    """

    def __init__(self, raw, checks: RecordChecks, block: int = 1 << 20):
        self.raw, self.checks, self.block = raw, checks, block
        self.out, self.at = b"", 0  # rewritten text not passed on yet: self.out[self.at:]
        self.tail = b""  # the partial line at the end of the last read
        self.line_no = 0
        self.in_header = True
        self.eof = False

    def readinto(self, buffer) -> int:
        want = len(buffer)
        while len(self.out) - self.at < want and not self.eof:
            chunk = self.raw.read(max(want, self.block))
            if not chunk:
                self.eof, data, self.tail = True, self.tail, b""
            else:
                data = self.tail + chunk
                end = data.rfind(b"\n") + 1
                data, self.tail = data[:end], data[end:]
            self.out, self.at = self.out[self.at :] + self._rewrite(data), 0
        n = min(want, len(self.out) - self.at)
        with memoryview(buffer) as view, memoryview(self.out) as out:
            view[:n] = out[self.at : self.at + n]
        self.at += n
        return n

    def _rewrite(self, data: bytes) -> bytes:
        start = 0
        while self.in_header and start < len(data):
            stop = data.find(b"\n", start)
            stop = len(data) if stop < 0 else stop
            self.line_no += 1
            if data.startswith(b"#CHROM", start):
                self.in_header, self.checks.header_lines = False, self.line_no
            start = stop + 1
        if start >= len(data):
            return data
        body = data[start:] if start else data
        # The cheap test of every line first (C speed, no regex): the text reduced to its tabs, newlines,
        # separators (| read as /) and colons. In a line's sample columns (after its 9th tab) "\t\t", "\t:"
        # or a final "\t" show a GT without a separator (haploid), "\t//" a GT with two (polyploid).
        reduced = body.translate(_PIPE_AS_SLASH, _NOT_STRUCTURE).split(b"\n")
        flagged = []
        for i, line in enumerate(reduced):
            tab = -1
            for _ in range(9):
                tab = line.find(b"\t", tab + 1)
                if tab < 0:
                    break
            if tab >= 0 and (
                line.find(b"\t\t", tab) >= 0
                or line.find(b"\t:", tab) >= 0
                or line.endswith(b"\t")
                or line.find(b"\t//", tab) >= 0
            ):
                flagged.append(i)
        first = self.line_no + 1  # the number of the body's first line
        self.line_no += len(reduced) - (1 if body.endswith(b"\n") else 0)
        if not flagged:
            return data
        lines = body.split(b"\n")
        for i in flagged:
            lines[i] = self._exact(lines[i], first + i)
        return data[:start] + b"\n".join(lines)

    def _exact(self, line: bytes, line_no: int) -> bytes:
        """A flagged record line with its haploid calls rewritten (a polyploid call raises)."""
        tab = before = -1
        for _ in range(9):  # FORMAT is between the 8th and the 9th tab, the sample columns after it
            before, tab = tab, line.find(b"\t", tab + 1)
        if line[before + 1 : tab].split(b":", 1)[0] != b"GT":
            return line  # a record without GT
        calls = line[tab:]
        if _POLYPLOID.search(calls):
            self.checks.fail(
                line_no,
                "a call with more than 2 alleles: popcen reads haploid and diploid calls",
                "remove the polyploid samples (bcftools view -s ^SAMPLE) or records",
            )
        return line[:tab] + _HAPLOID.sub(rb"\1/\1", calls)


# A haploid GT (the first subfield of a sample column: after a tab, up to a tab, ':' or the line's end) and a
# call with more than two alleles.
_HAPLOID = re.compile(rb"(?<=\t)([0-9]+|\.)(?=[\t:\r]|$)")
_POLYPLOID = re.compile(rb"\t[0-9.]+[/|][0-9.]+[/|]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"\t\n/|:")
_PIPE_AS_SLASH = bytes.maketrans(b"|", b"/")


def check_lines(
    checks: RecordChecks, data: bytes, start: int, end: int, line_no: int, maybe_empty: bool = True
) -> int:
    """Check the record lines of ``data[start:end]`` (the last needs no newline), the first of which is line
    ``line_no + 1``; blank lines are skipped, as both parsers do. Returns the number of the last line."""
    while start < end:
        stop = _line_end(data, start, end)
        line_no += 1
        if stop > start and data[start:stop] != b"\r":
            checks.record(data[start:stop], line_no, maybe_empty=maybe_empty)
        start = stop + 1
    return line_no


def _line_end(data: bytes, start: int, end: int) -> int:
    """The offset of the newline that ends the line starting at ``start`` (``end`` when there is none)."""
    stop = data.find(b"\n", start, end)
    return end if stop < 0 else stop
