"""Train/test split that does not leak and is balanced by construction.

Overlapping intervals share sequence, so they never straddle the split; and a region and its matched control
(the ``pair`` column of the sequence table) always fall on the same side. Every group is then a union of
whole pairs, one introgressed sequence and one control each, so any set of groups, the test part included,
holds exactly as many controls as introgressed sequences: accuracy on it cannot be a majority class's.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from popcen.errors import PopcenInputError
from popcen.introgression.intervals import overlap_groups

log = logging.getLogger("popcen")


def join_pairs(groups: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Merge groups that hold the two members of one pair (transitively): the connected components of the
    graph whose nodes are the groups and whose edges are the pairs. Returns 0-based component ids."""
    g = pd.factorize(np.asarray(groups))[0]
    p = pd.factorize(np.asarray(pairs))[0]
    n_g, n_p = g.max() + 1, p.max() + 1
    # Bipartite graph group <-> pair: two groups are joined when some pair has a member in each.
    graph = coo_matrix((np.ones(len(g)), (g, n_g + p)), shape=(n_g + n_p, n_g + n_p))
    _, comp = connected_components(graph, directed=False)
    return pd.factorize(comp[g])[0]


def split_groups(table: pd.DataFrame, by: str, max_len: int | None = None) -> np.ndarray:
    """Group of each sequence: its chromosome (``by="chromosome"``) or its locus (``by="loci"``: sequences
    that overlap, transitively, whatever their class, form one locus); then groups that share a
    region/control pair (``pair`` column) are merged, so that every group holds whole pairs.

    With ``max_len``, loci are the overlaps of the windows the models see (the first ``max_len`` bp of each
    interval, as ``introgression_sequences`` cuts them): intervals whose windows do not overlap share no
    sequence. On whole intervals, pairing then chains most of a small genome into one group (real chr20
    test: 20 pairs, one group).
    """
    if by == "chromosome":
        groups = pd.factorize(table["chrom"], sort=True)[0]
    elif by == "loci":
        windows = table[["chrom", "start", "end"]].reset_index(drop=True)
        if max_len is not None:
            windows["end"] = np.minimum(windows["end"], windows["start"] + max_len)
        groups = overlap_groups(windows)
    else:
        raise ValueError(f"split.by must be chromosome or loci, got {by!r}")
    return join_pairs(groups, table["pair"].to_numpy()) if "pair" in table else groups


def check_balanced(groups: np.ndarray, labels: np.ndarray) -> None:
    """Every group holds as many sequences of one class as of the other (true when all pairs are whole)."""
    per_group = pd.crosstab(groups, labels)
    bad = per_group.index[per_group.nunique(axis=1) > 1] if per_group.shape[1] == 2 else per_group.index
    if len(bad):
        raise RuntimeError(
            f"{len(bad)} split groups hold unequal numbers of introgressed and control sequences "
            "(a region without its control?): the held-out split would not be balanced"
        )


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
    table: pd.DataFrame,
    labels: np.ndarray,
    by: str,
    test_fraction: float,
    seed: int,
    max_len: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows of the sequence table, whole chromosomes or loci apart (``split.by``; loci of
    the first ``max_len`` bp, see :func:`split_groups`), each region with its control: both parts hold the
    two classes in equal numbers."""
    groups = split_groups(table, by, max_len)
    check_balanced(groups, labels)
    train, test = group_split(groups, labels, test_fraction, seed)
    log.info(
        "split by %s (pairs kept together): %d train / %d test sequences (%d introgressed in test), "
        "%d / %d groups",
        by,
        len(train),
        len(test),
        int(np.sum(labels[test] == 1)),
        len(np.unique(groups[train])),
        len(np.unique(groups[test])),
    )
    return train, test
