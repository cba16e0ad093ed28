"""The rules' code: one module per ``rules/<stage>.smk``, one function per rule, named after the rule.

Every rule function has the same signature, the fields of Snakemake's job object::

    def train_cec(input, output, params, wildcards, threads, log): ...

and reads its files by the rule's own names (``input.cae_weights``, ``output.assignments``). This layer is
the only code that knows file names, formats and the job object; the rest of ``popcen`` takes arrays and
tables and returns arrays and tables.

Each ``workflow/scripts/<rule>.py`` is the same two-line shim::

    from popcen.pipeline import clustering, run_rule
    run_rule(clustering.train_cec, snakemake)

Outside Snakemake (tests, benchmarks) :func:`call` runs a rule function on plain dicts.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from popcen.errors import PopcenInputError


class Named:
    """Named fields with attribute and index access, iterating over the values like Snakemake's Namedlist."""

    def __init__(self, items: dict | None = None, **kw):
        self._items = {**(items or {}), **kw}

    def __getattr__(self, name):
        try:
            return self.__dict__["_items"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key):
        if isinstance(key, int):
            return list(self._items.values())[key]
        return self._items[key]

    def __iter__(self):
        for value in self._items.values():
            if isinstance(value, list | tuple):
                yield from value
            else:
                yield value

    def __len__(self):
        return len(list(iter(self)))

    def keys(self):
        return self._items.keys()

    def items(self):
        return self._items.items()

    def get(self, name, default=None):
        return self._items.get(name, default)


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


def run_rule(rule: Callable, smk) -> None:
    """Run ``rule(input, output, params, wildcards, threads, log)`` for a Snakemake job.

    On bad input (:class:`PopcenInputError`) print one line naming the file, remove the outputs and exit 1.
    Snakemake also deletes the outputs of a failed job, but only those it knows; they are removed here too
    so that a function run by hand (or a killed job) leaves nothing half-written.
    """
    log_path = smk.log[0] if len(smk.log) else None
    logger = _setup_logging(log_path, smk.rule)
    try:
        rule(smk.input, smk.output, smk.params, smk.wildcards, smk.threads, logger)
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


def call(rule: Callable, *, input=None, output=None, params=None, wildcards=None, threads: int = 1, log=None):
    """Run a rule function outside Snakemake, on dicts of the rule's named inputs, outputs and params.

    Output folders are created as Snakemake would. Returns what the rule function returns.
    """
    output = Named(output or {})
    for path in output:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return rule(
        Named(input or {}),
        output,
        Named(params or {}),
        Named(wildcards or {}),
        threads,
        log or logging.getLogger("popcen"),
    )
