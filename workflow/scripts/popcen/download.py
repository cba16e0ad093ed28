"""Resumable, verified downloads of public inputs (1000 Genomes, SGDP, hg19, maps, annotations).

A download goes to ``<dest>.part`` first. When that file exists (an interrupted earlier run, or a dropped
connection) the transfer resumes with an HTTP ``Range`` request; a server that ignores ranges sends the
whole file again and we start over. The finished file is checked against the expected SHA-256 and/or MD5,
and only then renamed to ``dest`` (atomic on one file system), so ``dest`` is either complete and verified
or absent. A checksum mismatch removes the partial file and raises :class:`PopcenInputError`.
Without an expected checksum the file is kept and the computed one is logged as unverified.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from popcen.errors import PopcenInputError

logger = logging.getLogger("popcen")

CHUNK = 1 << 20
# HTTP statuses worth another try: the server or a proxy is busy or timed out.
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class DownloadSpec:
    """One file to download: config entry, local file name, address, expected checksums."""

    entry: str
    file: str
    url: str | None
    sha256: str | None
    md5: str | None
    contig: str | None = None


def _for_contig(value, contig: str | None):
    """A checksum setting (None, a hex string, or a mapping contig -> hex) for one file."""
    if isinstance(value, dict):
        return value.get(contig)
    return value


def plan_downloads(files: dict) -> dict[tuple[str, str], DownloadSpec]:
    """Expand the config's ``downloads.files`` into one :class:`DownloadSpec` per file.

    An entry whose ``url`` contains ``{contig}`` gives one file per value of ``contigs``; the local file name
    is the URL's last path component (or ``file``). A single-file entry must not give checksums per contig.

    Returns
    -------
    dict
        (entry, file name) -> DownloadSpec
    """
    plan = {}
    for entry, spec in files.items():
        url = spec.get("url")
        contigs = spec.get("contigs")
        patterned = url is not None and "{contig}" in url
        if patterned != bool(contigs):
            raise PopcenInputError(
                None,
                f"config downloads.files.{entry}: a url with {{contig}} needs `contigs`, "
                "and `contigs` needs a url with {contig}",
            )
        for key in ("sha256", "md5"):
            if isinstance(spec.get(key), dict) and not patterned:
                raise PopcenInputError(
                    None,
                    f"config downloads.files.{entry}.{key}: one file, one checksum "
                    "(a mapping is only for urls with {contig})",
                )
        for contig in contigs or [None]:
            full = url.replace("{contig}", contig) if contig is not None else url
            name = spec.get("file") or (full.rstrip("/").rsplit("/", 1)[-1] if full else None)
            if not name:
                raise PopcenInputError(
                    None, f"config downloads.files.{entry}: url is null, so `file` must name it"
                )
            if contig is not None and spec.get("file"):
                raise PopcenInputError(
                    None, f"config downloads.files.{entry}: `file` cannot name one file per contig"
                )
            plan[(entry, name)] = DownloadSpec(
                entry,
                name,
                full,
                _for_contig(spec.get("sha256"), contig),
                _for_contig(spec.get("md5"), contig),
                contig,
            )
    return plan


class IncompleteTransfer(Exception):
    """The connection ended before the announced number of bytes arrived (resumable)."""


@dataclass(frozen=True)
class Checksums:
    sha256: str
    md5: str
    size: int


def file_checksums(path: str | Path, chunk_size: int = CHUNK) -> Checksums:
    """SHA-256 and MD5 of a file, read once in chunks."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return Checksums(sha.hexdigest(), md5.hexdigest(), size)


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/total`` (or ``bytes */total``) header."""
    if not header:
        return None, None
    m = re.match(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", header.strip())
    if not m:
        return None, None
    first = int(m.group(1)) if m.group(1) else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return first, total


def _transfer(url: str, part: Path, timeout: float, chunk_size: int, progress: bool) -> None:
    """Bring ``part`` up to the complete file, resuming from its current size when it exists."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "popcen-download", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Nothing left to send: the part is complete if the server's size agrees, else start over.
            _, total = _content_range(exc.headers.get("Content-Range"))
            if total == have:
                return
            part.unlink()
            raise IncompleteTransfer(
                f"{part.name}: server cannot resume at byte {have}; starting over"
            ) from None
        raise
    with response:
        status = response.status
        if have and status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != have:
                raise IncompleteTransfer(f"server resumed at byte {first}, not {have}")
            mode = "ab"
            logger.info("resuming %s at byte %d", url, have)
        else:
            if have:
                logger.info("%s: server ignored the range request, downloading from the start", url)
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        with (
            open(part, mode) as out,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=part.name[:-5],
                disable=not progress,
            ) as bar,
        ):
            while True:
                try:
                    block = response.read(chunk_size)
                except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
                    raise IncompleteTransfer(f"connection lost after {out.tell()} bytes: {exc}") from exc
                if not block:
                    break
                out.write(block)
                bar.update(len(block))
            got = out.tell()
    if total is not None and got != total:
        raise IncompleteTransfer(f"{got} of {total} bytes received")


def fetch(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    md5: str | None = None,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 2.0,
    chunk_size: int = CHUNK,
    progress: bool = True,
) -> Checksums:
    """Download ``url`` to ``dest``: resumable, verified, atomic.

    Parameters
    ----------
    url : str
        http(s) or ftp address.
    dest : path
        Final file. Written only once the whole file is there and its checksums match.
    sha256, md5 : str, optional
        Expected hex digests (either or both). ``None``: not verified; the computed digests are logged.
    retries : int
        Further attempts after a dropped connection, a timeout or a 5xx/429 answer; each resumes.
    timeout : float
        Seconds without data before an attempt is abandoned.
    backoff : float
        Seconds before the first retry, doubled each time (at most 60).
    chunk_size : int
        Bytes read and written at a time.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    Checksums
        SHA-256, MD5 and size of the downloaded file.

    Raises
    ------
    PopcenInputError
        The server refused the file (e.g. 404), every attempt failed, or a checksum does not match (the
        partial file is then removed, so a rerun downloads it again).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout, chunk_size, progress)
            break
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRYABLE_STATUS or attempt == retries:
                raise PopcenInputError(url, f"HTTP {exc.code} {exc.reason}") from None
            reason = f"HTTP {exc.code}"
        except (IncompleteTransfer, urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            if attempt == retries:
                raise PopcenInputError(
                    url, f"download failed after {retries + 1} attempts: {exc}; rerun to resume from {part}"
                ) from None
            reason = str(exc)
        wait = min(backoff * 2**attempt, 60.0)
        logger.warning("%s: %s; retrying in %.0f s (%d of %d)", url, reason, wait, attempt + 1, retries)
        time.sleep(wait)

    sums = file_checksums(part)
    for name, expected in (("sha256", sha256), ("md5", md5)):
        got = getattr(sums, name)
        if expected is not None and expected.lower() != got:
            part.unlink()
            raise PopcenInputError(
                url,
                f"{name} mismatch: expected {expected.lower()}, got {got} "
                f"({sums.size} bytes); the download was removed",
            )
    if sha256 is None and md5 is None:
        logger.warning(
            "UNVERIFIED download %s: no checksum configured; sha256 %s, md5 %s, %d bytes. Put the "
            "sha256 in config `downloads` to verify later downloads.",
            dest.name,
            sums.sha256,
            sums.md5,
            sums.size,
        )
    else:
        logger.info("verified %s: sha256 %s, md5 %s, %d bytes", dest.name, sums.sha256, sums.md5, sums.size)
    os.replace(part, dest)
    return sums


def write_checksum_file(path: str | Path, file_name: str, sums: Checksums, verified: bool) -> None:
    """``<sha256>  <name>`` (readable by ``sha256sum -c``), then the MD5, size and whether it was verified."""
    Path(path).write_text(
        f"{sums.sha256}  {file_name}\n"
        f"# md5 {sums.md5}  size {sums.size}  {'verified against config' if verified else 'UNVERIFIED (no checksum in config)'}\n"
    )
