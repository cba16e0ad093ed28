"""Train/test split that does not leak: overlapping intervals share sequence, so they never straddle it."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError
from popcen.introgression.intervals import overlap_groups

log = logging.getLogger("popcen")


def split_groups(table: pd.DataFrame, by: str) -> np.ndarray:
    """Group of each sequence: its chromosome (``by="chromosome"``) or its locus (``by="loci"``: intervals
    that overlap, transitively, whatever their class, form one locus)."""
    if by == "chromosome":
        return pd.factorize(table["chrom"], sort=True)[0]
    if by == "loci":
        return overlap_groups(table[["chrom", "start", "end"]].reset_index(drop=True))
    raise ValueError(f"split.by must be chromosome or loci, got {by!r}")


def group_split(
    groups: np.ndarray, labels: np.ndarray, test_fraction: float, seed: int, max_tries: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Whole groups go to the test part, in a seeded random order; as many as bring its size closest to
    ``test_fraction`` of the items (at least one, never all). Retried with the next seed until both parts
    hold both classes.

    Returns
    -------
    train_idx, test_idx : sorted index arrays; no group has items in both.
    """
    uniq = np.unique(groups)
    if len(uniq) < 2:
        raise PopcenInputError(
            None,
            "the held-out split needs at least two groups (chromosomes or loci); with "
            "sequences on one chromosome set introgression.split.by: loci",
        )
    sizes = pd.Series(groups).value_counts()
    for attempt in range(max_tries):
        order = np.random.default_rng(seed + attempt).permutation(uniq)
        taken = np.cumsum(sizes.loc[order].to_numpy())
        n_test = int(np.argmin(np.abs(taken - test_fraction * len(groups)))) + 1
        n_test = min(n_test, len(uniq) - 1)
        test = np.isin(groups, order[:n_test])
        if all(len(np.unique(labels[m])) == 2 for m in (test, ~test)):
            return np.flatnonzero(~test), np.flatnonzero(test)
    raise PopcenInputError(
        None,
        f"no split of the {len(uniq)} groups puts both classes in train and test; "
        "use more regions or introgression.split.by: loci",
    )


def held_out_split(
    table: pd.DataFrame, labels: np.ndarray, by: str, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows of the sequence table, whole chromosomes or loci apart (``split.by``)."""
    groups = split_groups(table, by)
    train, test = group_split(groups, labels, test_fraction, seed)
    log.info(
        "split by %s: %d train / %d test sequences, %d / %d groups",
        by,
        len(train),
        len(test),
        len(np.unique(groups[train])),
        len(np.unique(groups[test])),
    )
    return train, test
