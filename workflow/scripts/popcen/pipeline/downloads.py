"""Rules of rules/downloads.smk that run Python: one public file, resumable and verified (popcen.download)."""

from __future__ import annotations

from popcen.download import fetch, write_checksum_file
from popcen.errors import PopcenInputError


def download(input, output, params, wildcards, threads, log):
    """Fetch ``params.url`` to ``output.file`` (checked against ``params.sha256`` / ``params.md5`` when set)
    and write its checksums to ``output.checksum``."""
    p = params
    if p.url is None:
        raise PopcenInputError(
            None,
            f"config downloads.files.{wildcards.entry}.url is not set: no verified public address is known for "
            f"{wildcards.filename}; set it, or put the file at {output.file} yourself",
        )
    sums = fetch(
        p.url, output.file, sha256=p.sha256, md5=p.md5, retries=p.retries, timeout=p.timeout, progress=False
    )
    write_checksum_file(output.checksum, wildcards.filename, sums, verified=bool(p.sha256 or p.md5))
