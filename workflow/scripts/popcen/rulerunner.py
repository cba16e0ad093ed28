"""Glue between a Snakemake ``script:`` and the library: logging, clean errors, no partial output.

Usage in ``workflow/scripts/<rule>.py``::

    from popcen.rulerunner import run_rule

    def main(smk, log):
        ...

    run_rule(main, snakemake)
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from popcen.errors import PopcenInputError


def _setup_logging(log_path: str | None, rule: str) -> logging.Logger:
    logger = logging.getLogger("popcen")
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    fmt = logging.Formatter(f"%(asctime)s {rule} %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    # The terminal gets warnings and errors only (a 22-contig run prints enough); the log file gets it all.
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if not log_path else logging.WARNING)
    handlers: list[logging.Handler] = [console]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    logger.propagate = False
    return logger


def remove_outputs(paths) -> None:
    """Delete whatever a failed job left behind (files or Zarr directories)."""
    for p in paths:
        p = Path(p)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()


def run_rule(main: Callable, smk) -> None:
    """Run ``main(smk, logger)``; on bad input print one line naming the file, clean up, exit 1.

    Snakemake also deletes the outputs of a failed job, but only those it knows; we remove them here
    too so that a script run by hand (or a killed job) leaves nothing half-written.
    """
    log_path = smk.log[0] if len(smk.log) else None
    logger = _setup_logging(log_path, smk.rule)
    try:
        main(smk, logger)
    except PopcenInputError as exc:
        remove_outputs(smk.output)
        logger.error("%s", exc)
        # The one line a user reads in the terminal, whatever the log level.
        print(f"popcen error in rule {smk.rule}: {exc}", file=sys.stderr)
        sys.exit(1)
    except BaseException:
        remove_outputs(smk.output)
        logger.exception("rule %s failed", smk.rule)
        raise
