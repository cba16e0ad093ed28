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
from pathlib import Path
from typing import Callable

import numpy as np

_BLOCK = 32 << 20  # bytes of VCF text parsed at a time
_TAB, _PIPE, _SLASH, _DOT, _ZERO, _NINE = (ord(c) for c in "\t|/.09")


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
    blocks = _line_blocks(stream)
    header = next(blocks, [])
    first = next(blocks, None)
    if not header or not header[-1].startswith(b"#CHROM"):
        return False
    if first is None:
        return True
    n_samples = len(header[-1].split(b"\t")) - 9
    try:
        _parse(first[:1], n_samples)  # fail before writing anything when the very first record does not fit
        make_template(io.BytesIO(b"\n".join([*header, first[0]]) + b"\n"), store)
        root = zarr.open_group(str(store), mode="r+")
        arrays = {name: root[name] for name in fields}
        for a in arrays.values():
            a.resize((0, *a.shape[1:]))
        pending: list[dict[str, np.ndarray]] = []
        n_pending = 0
        for block in _chain(first, blocks):
            parsed = _parse(block, n_samples)
            pending.append(parsed)
            n_pending += len(parsed["variants/POS"])
            if n_pending >= chunk_length:
                # Append whole chunks only, so that no chunk is written twice.
                merged = {k: np.concatenate([p[k] for p in pending]) for k in fields}
                cut = n_pending - n_pending % chunk_length
                for k in fields:
                    arrays[k].append(merged[k][:cut], axis=0)
                pending = [{k: v[cut:] for k, v in merged.items()}]
                n_pending -= cut
        if n_pending:
            for k in fields:
                arrays[k].append(np.concatenate([p[k] for p in pending]), axis=0)
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


def _line_blocks(stream):
    """Yield the header lines (one list, up to and including #CHROM), then lists of record lines."""
    rest = b""
    header: list[bytes] | None = []
    while True:
        data = stream.read(_BLOCK)
        buf = rest + data
        if not data:
            lines, rest = (buf.split(b"\n") if buf else []), b""
        else:
            cut = buf.rfind(b"\n")
            if cut < 0:
                rest = buf
                continue
            lines, rest = buf[:cut].split(b"\n"), buf[cut + 1:]
        if header is not None:
            while lines and lines[0].startswith(b"#"):
                header.append(lines.pop(0))
            if lines or not data:
                yield header
                header = None
        lines = [line for line in lines if line]
        if lines:
            yield lines
        if not data:
            return


def _parse(lines: list[bytes], n_samples: int) -> dict[str, np.ndarray]:
    """Arrays of a block of records, as scikit-allel stores them (alt_number=1); raises NotSimple."""
    rows = [line.split(b"\t", 9) for line in lines]
    if any(len(r) != 10 for r in rows):
        raise NotSimple("fewer than 10 columns")
    chrom, pos, ids, ref, alt, _qual, _filter, _info, fmt, calls = zip(*rows, strict=True)
    if set(fmt) != {b"GT"}:
        raise NotSimple("FORMAT other than GT")
    if b"." in ref or any(len(c) != 4 * n_samples - 1 for c in calls):
        raise NotSimple("missing REF or calls not 3 characters each")
    text = np.frombuffer(b"\t".join(calls) + b"\t", dtype=np.uint8).reshape(len(rows), n_samples, 4)
    sep = text[:, :, 1]
    if not ((text[:, :, 3] == _TAB).all() and ((sep == _PIPE) | (sep == _SLASH)).all()):
        raise NotSimple("calls are not a|b or a/b")
    alleles = text[:, :, 0:3:2]
    dot = alleles == _DOT
    if not (((alleles >= _ZERO) & (alleles <= _NINE)) | dot).all():
        raise NotSimple("allele not a digit or '.'")
    gt = alleles.astype(np.int8) - _ZERO
    gt[dot] = -1
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
