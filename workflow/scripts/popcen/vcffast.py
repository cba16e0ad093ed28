"""A fast path for the VCFs most cohorts are: FORMAT is GT alone and every call is 'a|b' or 'a/b' with
one-character alleles (0-9 or '.').

scikit-allel parses a call at a time; here a block of records is parsed at once with numpy, because such
calls sit at fixed offsets (4 bytes per sample). The store layout (dtypes, chunks, compressors, attributes)
is taken from scikit-allel itself, which converts the header and first record into a template store; the
arrays are then filled with exactly what scikit-allel would have written. Any record that does not fit
(another FORMAT field, a two-digit allele, a haploid call, CRLF line ends, ...) makes :func:`gt_only_to_zarr`
give up and remove its output, and the caller converts the input with scikit-allel instead.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

_BLOCK = 32 << 20  # bytes of VCF text parsed at a time


def _allele_table() -> np.ndarray:
    """Decoding table indexed by two bytes read as one native uint16: an allele (0-9, '.' -> -1) followed by
    '|', '/' or a tab; anything else -> -2."""
    pairs = np.arange(1 << 16, dtype=np.uint16).view(np.uint8).reshape(-1, 2)
    allele, after = pairs[:, 0].astype(np.int16), pairs[:, 1]
    value = np.where((allele >= ord("0")) & (allele <= ord("9")), allele - ord("0"),
                     np.where(allele == ord("."), -1, -2))
    return np.where(np.isin(after, [ord("|"), ord("/"), ord("\t")]), value, -2).astype(np.int8)


_ALLELE = _allele_table()
# A call 'a', sep, 'b', tab read as a little-endian uint32, with the allele bytes masked out.
_MARKS = 0xFF00FF00
_PHASED, _UNPHASED = (ord("\t") << 24 | ord(sep) << 8 for sep in "|/")


class NotSimple(Exception):
    """A record the fast path does not handle."""


def gt_only_to_zarr(stream, store: str | Path, chunk_length: int, fields: list[str],
                    make_template: Callable[[io.BytesIO, Path], None]) -> bool:
    """Convert a VCF byte stream (header included) into a scikit-allel Zarr store at ``store``.

    Parameters
    ----------
    stream : binary file-like object of uncompressed VCF text
    fields : the store's array paths besides 'samples' ('variants/CHROM', ..., 'calldata/GT')
    make_template : writes a scikit-allel store from a small VCF (header + first record) at a path

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
        first_line = first[:int(np.argmax(first == ord("\n"))) + 1]
        _parse(first_line, n_samples)  # fail before writing anything when the first record does not fit
        make_template(io.BytesIO(b"\n".join(header) + b"\n" + first_line.tobytes()), store)
        root = zarr.open_group(str(store), mode="r+")
        arrays = {name: root[name] for name in fields}
        for a in arrays.values():
            a.resize((0, *a.shape[1:]))
        # Whole chunks are gathered in a buffer and appended at once, so that no chunk is written twice.
        buffer = {name: np.empty((chunk_length, *a.shape[1:]), dtype=a.dtype) for name, a in arrays.items()}
        filled = 0
        for block in _chain(first, blocks):
            parsed = _parse(block, n_samples)
            n, done = len(parsed["variants/POS"]), 0
            while done < n:
                take = min(chunk_length - filled, n - done)
                for name in fields:
                    buffer[name][filled:filled + take] = parsed[name][done:done + take]
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
            buf[:end - start] = buf[start:end]
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


def _parse(text: np.ndarray, n_samples: int) -> dict[str, np.ndarray]:
    """Arrays of a block of whole record lines, as scikit-allel stores them (alt_number=1); raises
    NotSimple. The calls of a line are its last 4 * n_samples - 1 bytes; the checks below make sure they
    are n_samples calls of 3 bytes and the rest nine fields ending in FORMAT = GT."""
    ends = np.flatnonzero(text == ord("\n"))
    starts = np.concatenate([[0], ends[:-1] + 1])
    full = ends > starts  # blank lines are skipped, as scikit-allel does
    starts, ends = starts[full], ends[full]
    width = 4 * n_samples - 1
    calls_at = ends - width
    if (calls_at <= starts).any():
        raise NotSimple("line shorter than its calls")
    cells = np.empty((len(ends), 4 * n_samples), dtype=np.uint8)
    cells[:, -1] = ord("\t")
    for row, (at, end) in enumerate(zip(calls_at.tolist(), ends.tolist(), strict=True)):
        cells[row, :width] = text[at:end]
    fixed = [text[s:c].tobytes().split(b"\t") for s, c in zip(starts.tolist(), calls_at.tolist(), strict=True)]
    if any(len(f) != 10 or f[8] != b"GT" or f[9] != b"" for f in fixed):
        raise NotSimple("FORMAT other than GT, or calls not 3 characters each")
    marks = cells.view("<u4") & np.uint32(_MARKS)
    if not ((marks == _PHASED) | (marks == _UNPHASED)).all():
        raise NotSimple("calls are not a|b or a/b")
    # Each call's two (allele, separator) byte pairs, read as uint16, decoded by one table look-up each.
    gt = _ALLELE[cells.view(np.uint16)].reshape(len(ends), n_samples, 2)
    if gt.min() < -1:
        raise NotSimple("allele not 0-9 or '.'")
    chrom, pos, ids, ref, alt = (list(col) for col in zip(*(f[:5] for f in fixed), strict=True))
    if b"." in ref:
        raise NotSimple("missing REF")
    return {
        "variants/CHROM": _strings(chrom),
        "variants/POS": np.array([int(p) for p in pos], dtype=np.int32),
        "variants/ID": _strings(ids),
        "variants/REF": _strings(ref),
        # alt_number=1: the first ALT allele; a missing ALT ('.') is stored as '' with numalt 0.
        "variants/ALT": _strings(b"" if a == b"." else a.split(b",", 1)[0] for a in alt),
        "variants/numalt": np.array([0 if a == b"." else a.count(b",") + 1 for a in alt], dtype=np.int32),
        "calldata/GT": gt,
    }


def _strings(values) -> np.ndarray:
    return np.array([v.decode() for v in values], dtype=object)
