"""Errors that a user can act on.

A :class:`PopcenInputError` is raised for bad input (a missing or truncated file, a panel without a
required column, ...). Rule scripts turn it into one line on stderr and in the log, with no traceback,
and a non-zero exit (see :func:`popcen.pipeline.run_rule`).
"""

from __future__ import annotations

from pathlib import Path


class PopcenInputError(Exception):
    """Bad input: the message names the file and says what is wrong with it."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
