"""Rule download: one public file, resumable and verified (popcen.download)."""

from popcen.download import fetch, write_checksum_file
from popcen.errors import PopcenInputError
from popcen.rulerunner import run_rule


def main(smk, log):
    p = smk.params
    if p.url is None:
        raise PopcenInputError(None, f"config downloads.files.{smk.wildcards.entry}.url is not set: no verified public "
                               f"address is known for {smk.wildcards.filename}; set it, or put the file at "
                               f"{smk.output.file} yourself")
    sums = fetch(p.url, smk.output.file, sha256=p.sha256, md5=p.md5, retries=p.retries, timeout=p.timeout,
                 progress=False)
    write_checksum_file(smk.output.checksum, smk.wildcards.filename, sums, verified=bool(p.sha256 or p.md5))


run_rule(main, snakemake)
