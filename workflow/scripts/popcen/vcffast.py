"""A fast path for the VCFs most cohorts are: FORMAT is GT alone and every call is 'a|b' or 'a/b' with
one-character alleles (0-9 or '.').

scikit-allel parses a call at a time through Python-level machinery; here a block of records is checked and
decoded in one compiled (numba) pass over the text, such calls sitting at fixed offsets (4 bytes per sample). The store layout (dtypes, chunks, compressors, attributes)
is taken from scikit-allel itself, which converts the header and first record into a template store; the
arrays are then filled with exactly what scikit-allel would have written. Any record that does not fit
(another FORMAT field, a two-digit allele, a haploid call, CRLF line ends, ...) makes :func:`gt_only_to_zarr`
give up and remove its output, and the caller converts the input with scikit-allel instead (haploid
calls then pass through :class:`popcen.vcfcheck.PloidyStream`, which writes them as hemizygous diploid
ones: both parsers store the same calls). A record that
breaks the checks of :mod:`popcen.vcfcheck` (CHROM, POS, order, column count) stops the conversion instead.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from popcen.vcfcheck import RecordChecks, check_lines

_BLOCK = 32 << 20  # bytes of VCF text parsed at a time
_TAB, _NEWLINE, _PIPE, _SLASH, _DOT, _ZERO = (ord(c) for c in "\t\n|/.0")


class NotSimple(Exception):
    """A record the fast path does not handle (``at``: its byte offset in the block, when known)."""

    def __init__(self, message: str, at: int | None = None):
        super().__init__(message)
        self.at = at


def gt_only_to_zarr(
    stream,
    store: str | Path,
    chunk_length: int,
    fields: list[str],
    make_template: Callable[[io.BytesIO, Path], None],
    checks: RecordChecks | None = None,
) -> bool:
    """Convert a VCF byte stream (header included) into a scikit-allel Zarr store at ``store``.

    Parameters
    ----------
    stream : binary file-like object of uncompressed VCF text
    fields : the store's array paths besides 'samples' ('variants/CHROM', ..., 'calldata/GT')
    make_template : writes a scikit-allel store from a small VCF (header + first record) at a path, with
        any chunk length (a short one is faster)
    checks : the record checks (:mod:`popcen.vcfcheck`): CHROM, POS and order are checked on each block's
        arrays; when a block breaks them, or holds a line this parser does not handle, its lines up to that
        one are checked one by one, so that a malformed record stops the conversion here
        (:class:`PopcenInputError`, naming the first bad line) instead of being handed to scikit-allel

    Returns
    -------
    True when the store was written (or, as with scikit-allel, nothing was written because there is no
    record); False when a record does not fit the fast path: nothing is left at ``store`` then.
    """
    import zarr

    store = Path(store)
    blocks = _record_blocks(stream)
    header = next(blocks)
    if not header or not header[-1].startswith(b"#CHROM"):
        return False
    first = next(blocks, None)
    if first is None:
        return True
    n_samples = len(header[-1].split(b"\t")) - 9
    try:
        first_line = first[: int(np.argmax(first == ord("\n"))) + 1]
        _parse(first_line, n_samples)  # fail before writing anything when the first record does not fit
        make_template(io.BytesIO(b"\n".join(header) + b"\n" + first_line.tobytes()), store)
        root = zarr.open_group(str(store), mode="r+")
        for name in fields:
            _empty_with_chunk_length(root, name, chunk_length)
        arrays = {name: root[name] for name in fields}
        # Whole chunks are gathered in a buffer and appended at once, so that no chunk is written twice.
        buffer = {name: np.empty((chunk_length, *a.shape[1:]), dtype=a.dtype) for name, a in arrays.items()}
        filled = 0
        lines_before = len(header)  # lines of the text before the block: checks name the line
        if checks is not None:
            checks.header_lines = len(header)
        for block in _chain(first, blocks):
            try:
                parsed, starts, blank = _parse(block, n_samples)
            except NotSimple as exc:
                if checks is not None and exc.at is not None:
                    # The block's lines up to the one this parser rejects are checked one by one: a
                    # malformed record stops the conversion (the block's first bad one is named), an
                    # unusual but valid one goes to scikit-allel.
                    _check_through(checks, block, exc.at, lines_before)
                raise
            if checks is not None:
                bad = checks.first_bad(parsed["variants/CHROM"], parsed["variants/POS"])
                if bad >= 0:  # the line-by-line checks say what is wrong (they raise)
                    _check_through(checks, block, int(starts[bad]), lines_before)
                    raise NotSimple("the block's checks and the record checks disagree")
            n, done = len(parsed["variants/POS"]), 0
            lines_before += n + blank
            while done < n:
                take = min(chunk_length - filled, n - done)
                for name in fields:
                    buffer[name][filled : filled + take] = parsed[name][done : done + take]
                filled, done = filled + take, done + take
                if filled == chunk_length:
                    for name in fields:
                        arrays[name].append(buffer[name], axis=0)
                    filled = 0
        if filled:
            for name in fields:
                arrays[name].append(buffer[name][:filled], axis=0)
    except NotSimple:
        shutil.rmtree(store, ignore_errors=True)
        return False
    except BaseException:
        shutil.rmtree(store, ignore_errors=True)
        raise
    return True


def _empty_with_chunk_length(root, name: str, chunk_length: int) -> None:
    """Empty a template array and give it ``chunk_length`` records a chunk: the template is written with
    short chunks, because scikit-allel allocates a whole chunk of every field even for one record (131 MB
    of GT at 65,536 records × 1,000 samples: half a second). Zarr v2 keeps the chunk shape in the array's
    ``.zarray`` JSON, which is safe to edit once the array holds no chunk."""
    array = root[name]
    array.resize((0, *array.shape[1:]))  # drops the template's chunks
    key = f"{array.path}/.zarray"
    meta = json.loads(root.store[key])
    meta["chunks"][0] = chunk_length
    root.store[key] = json.dumps(meta, indent=4, sort_keys=True, ensure_ascii=True).encode()


def _check_through(checks: RecordChecks, block: np.ndarray, at: int, lines_before: int) -> None:
    """Check the lines of a block up to the one that starts at byte ``at``, with ``popcen.vcfcheck``'s
    line-by-line checks (only on the way to an error or to scikit-allel: a block is up to 32 MB)."""
    end = at + int(np.argmax(block[at:] == ord("\n")))
    check_lines(checks, block[:end].tobytes(), 0, end, lines_before)


def _chain(first, rest):
    yield first
    yield from rest


def _record_blocks(stream):
    """Yield the header lines (a list, up to the #CHROM line), then blocks of whole record lines, each a
    numpy view of one reused buffer (valid until the next block is asked for), every line ending in a
    newline. Reading into the buffer spares copying 1-2 GB of text per chromosome."""
    buf = bytearray(_BLOCK)
    start = end = 0  # unread data: buf[start:end]
    eof = False

    def fill():
        nonlocal buf, start, end, eof
        if start:  # move the unread tail to the front (same size: allowed while views exist)
            buf[: end - start] = buf[start:end]
            start, end = 0, end - start
        if end == len(buf):  # a line longer than the buffer: a bigger one
            buf = buf + bytearray(len(buf))
        with memoryview(buf) as view:
            while end < len(buf) and not eof:
                got = stream.readinto(view[end:])
                eof = not got
                end += got or 0

    header: list[bytes] = []
    fill()
    while start < end and buf[start] == ord("#"):
        stop = buf.find(b"\n", start, end)
        if stop < 0:
            if eof:
                header.append(bytes(buf[start:end]).rstrip(b"\r"))
                start = end
                break
            fill()
            continue
        header.append(bytes(buf[start:stop]).rstrip(b"\r"))
        start = stop + 1
    yield header
    while True:
        if not eof:
            fill()
        cut = end if eof else buf.rfind(b"\n", start, end) + 1
        if cut > start:
            block = np.frombuffer(buf, dtype=np.uint8, count=cut - start, offset=start)
            if block[-1] != ord("\n"):
                block = np.append(block, np.uint8(ord("\n")))
            start = cut
            yield block
        elif eof:
            return


def _parse(text: np.ndarray, n_samples: int) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Arrays of a block of whole record lines, as scikit-allel stores them (alt_number=1), the byte offset
    of each record and the number of blank lines; raises NotSimple. The compiled :func:`_scan` finds the
    lines, checks that each is nine fixed fields ending in FORMAT = GT followed by n_samples calls of 3
    bytes, and decodes calls, POS and the ALT count in one pass over the text; the string fields are then
    cut out of it."""
    most = len(text) // (4 * n_samples) + 1  # a record line is longer than its calls
    gt = np.empty((most, n_samples, 2), dtype=np.int8)
    starts = np.empty(most, dtype=np.int64)
    tabs = np.empty((most, 5), dtype=np.int64)  # the tabs after CHROM, POS, ID, REF, ALT
    pos = np.empty(most, dtype=np.int32)
    alt_end = np.empty(most, dtype=np.int64)  # end of the first ALT allele
    numalt = np.empty(most, dtype=np.int32)
    n, bad, blank = _scan(text, n_samples, gt, starts, tabs, pos, alt_end, numalt)
    if bad >= 0:
        raise NotSimple(f"the record at byte {bad} of a block is not a GT-only record of a|b calls", bad)
    starts, tabs, alt_end = starts[:n], tabs[:n], alt_end[:n]
    chrom, ids = _field_strings(text, starts, tabs[:, 0]), _field_strings(text, tabs[:, 1] + 1, tabs[:, 2])
    ref, alt = _field_strings(text, tabs[:, 2] + 1, tabs[:, 3]), _field_strings(text, tabs[:, 3] + 1, alt_end)
    if (ref == ".").any():
        raise NotSimple("missing REF")
    numalt = numalt[:n]
    alt[numalt == 0] = ""  # alt_number=1: the first ALT allele; a missing ALT ('.') is stored as ''
    arrays = {
        "variants/CHROM": chrom,
        "variants/POS": pos[:n],
        "variants/ID": ids,
        "variants/REF": ref,
        "variants/ALT": alt,
        "variants/numalt": numalt,
        "calldata/GT": gt[:n],
    }
    return arrays, starts, blank


@numba.njit(cache=True, nogil=True)
def _allele(byte):
    """An allele character: 0-9 -> 0..9, '.' -> -1, anything else -> -2."""
    if _ZERO <= byte <= _ZERO + 9:
        return byte - _ZERO
    return -1 if byte == _DOT else -2


@numba.njit(cache=True, nogil=True)
def _scan(text, n_samples, gt, starts, tabs, pos, alt_end, numalt):
    """Walk the record lines of ``text`` (each ending in a newline; blank lines skipped), decoding each
    into row i of the output arrays. Returns (number of records, -1, number of blank lines), or (i, byte
    offset of the first line that is not nine tab-separated fixed fields with FORMAT = GT, a tab, and
    n_samples one-character 'a|b' / 'a/b' calls separated by tabs, blank lines so far). Blank lines are
    counted so that a record's line number can be told (see :func:`gt_only_to_zarr`)."""
    width = 4 * n_samples - 1
    end = len(text)
    row, p, blank = 0, 0, 0
    while p < end:
        start = p
        if text[p] == _NEWLINE:  # blank line
            p += 1
            blank += 1
            continue
        # Nine tabs end the fixed fields; the calls follow the ninth.
        k = 0
        info_end = -1
        while p < end and k < 9:
            byte = text[p]
            if byte == _NEWLINE:
                return row, start, blank
            if byte == _TAB:
                if k < 5:
                    tabs[row, k] = p
                elif k == 7:
                    info_end = p
                k += 1
            p += 1
        calls = p
        if k != 9 or calls + width >= end or text[calls + width] != _NEWLINE:
            return row, start, blank
        if calls - 1 - info_end - 1 != 2 or text[info_end + 1] != ord("G") or text[info_end + 2] != ord("T"):
            return row, start, blank
        # POS: decimal digits that fit an int32.
        if tabs[row, 1] - tabs[row, 0] < 2:
            return row, start, blank
        value = 0
        for q in range(tabs[row, 0] + 1, tabs[row, 1]):
            digit = text[q] - _ZERO
            if digit < 0 or digit > 9 or value > 214748364:
                return row, start, blank
            value = value * 10 + digit
        if value > 2147483647:
            return row, start, blank
        pos[row] = value
        # ALT: alleles are comma-separated; '.' alone means none.
        alt0, alt1 = tabs[row, 3] + 1, tabs[row, 4]
        first_end, commas = alt1, 0
        for q in range(alt0, alt1):
            if text[q] == ord(","):
                if commas == 0:
                    first_end = q
                commas += 1
        alt_end[row] = first_end
        numalt[row] = 0 if (alt1 - alt0 == 1 and text[alt0] == _DOT) else commas + 1
        # The calls: 'a', '|' or '/', 'b', then a tab (the newline, checked above, after the last one).
        q = calls
        for s in range(n_samples):
            sep, after = text[q + 1], text[q + 3]
            if (sep != _PIPE and sep != _SLASH) or (after != _TAB and s < n_samples - 1):
                return row, start, blank
            a, b = _allele(text[q]), _allele(text[q + 2])
            if a < -1 or b < -1:
                return row, start, blank
            gt[row, s, 0] = a
            gt[row, s, 1] = b
            q += 4
        starts[row] = start
        row += 1
        p = calls + width + 1
    return row, -1, blank


_ONE_BYTE = np.array([bytes([b]).decode("latin-1") if b < 128 else None for b in range(256)], dtype=object)


def _field_strings(text: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The text fields [begin[i], end[i]) as an object array of str (UTF-8).

    Most fields are one ASCII character (REF, ALT) or repeat the previous record's (CHROM, often ID):
    those are taken from a table or copied; only the others are cut out one by one."""
    out = np.empty(len(begin), dtype=object)
    if not len(begin):
        return out
    source = _first_of_run(text, begin, end)  # the row whose bytes this row repeats
    first = np.flatnonzero(source == np.arange(len(begin)))
    one = (end[first] - begin[first] == 1) & (text[begin[first]] < 128)
    out[first[one]] = _ONE_BYTE[text[begin[first[one]]]]
    with memoryview(text) as raw:
        for i in first[~one].tolist():
            out[i] = str(raw[begin[i] : end[i]], "utf-8")
    return out[source]


@numba.njit(cache=True, nogil=True)
def _first_of_run(text, begin, end):
    """For each field, the first row of the run of consecutive rows whose fields hold the same bytes."""
    source = np.empty(begin.size, dtype=np.int64)
    for i in range(begin.size):
        source[i] = i
        if i > 0:
            j = source[i - 1]
            length = end[i] - begin[i]
            if end[j] - begin[j] == length:
                same = True
                for k in range(length):
                    if text[begin[i] + k] != text[begin[j] + k]:
                        same = False
                        break
                if same:
                    source[i] = j
    return source
