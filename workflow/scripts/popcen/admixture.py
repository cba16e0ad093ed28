"""Admixture-style ancestry proportions from CEC: the Q matrix (samples x clusters, rows summing to one) that
ADMIXTURE, fastmixture or Neural ADMIXTURE users expect, from CEC's Student-t soft assignments q.

A cohort's Q is its CEC's q (``cec_assignments.tsv`` of rule train_cec); a new cohort's Q is the same CEC
(its fine-tuned encoder, centroids and kernel) applied to the new cohort's genotypes aligned to the model
cohort's variants (rule predict's ``aligned.zarr``). Clusters are named by the population most of their
samples carry in the training cohort (the second cluster led by CEU is ``CEU_2``), so the names and the
colours are the same in the training cohort's plot and in every predicted cohort's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from popcen.batches import inference_batch, sample_loader
from popcen.classification.newcohort import aligned_images
from popcen.models import seqcae
from popcen.models.cec import CEC, predict_q
from popcen.models.seqcae import SeqCAE
from popcen.representation import cae_from_config


def cec_q(table: pd.DataFrame) -> np.ndarray:
    """The (samples, K) soft assignments q0 .. q<K-1> of a ``cec_assignments.tsv`` table, in cluster order."""
    k = sum(1 for c in table.columns if c.startswith("q") and c[1:].isdigit())
    if k == 0:
        raise ValueError("the table has no soft-assignment columns q0 .. q<K-1>")
    return table[[f"q{j}" for j in range(k)]].to_numpy(dtype=np.float64)


def cluster_names(labels, q: np.ndarray) -> list[str]:
    """Each CEC cluster's name: the label most of its samples carry (a sample belongs to its argmax cluster).

    Ties go to the first label in sorted order. A cluster no sample has as its argmax is named by the label
    of the largest summed q in its column. Clusters that share a majority label are told apart by a suffix,
    the one with the most samples of that label first: ``CEU``, ``CEU_2``, ``CEU_3`` (ties by cluster
    number); a suffix never repeats a name already taken.

    Parameters
    ----------
    labels : (n,) the training cohort's labels at one level
    q : (n, K) soft assignments

    Returns
    -------
    K names, in cluster order
    """
    labels = np.asarray(labels).astype(str)
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or len(labels) != len(q):
        raise ValueError(f"labels ({len(labels)}) and q {q.shape} must have one row per sample")
    k = q.shape[1]
    names = np.unique(labels)  # sorted: idxmax's tie rule is "first in sorted order"
    hard = q.argmax(axis=1)
    counts = np.zeros((k, len(names)))  # samples of each label whose argmax is each cluster
    mass = np.zeros((k, len(names)))  # summed q of each label's samples in each cluster
    for i, name in enumerate(names):
        sel = labels == name
        counts[:, i] = np.bincount(hard[sel], minlength=k)
        mass[:, i] = q[sel].sum(axis=0)
    lead = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), mass.argmax(axis=1))
    support = np.where(counts.sum(axis=1) > 0, counts[np.arange(k), lead], 0.0)
    out: list[str | None] = [None] * k
    taken = set(names)  # a suffixed name must not be a label of its own
    for i in np.unique(lead):
        clusters = [int(j) for j in np.flatnonzero(lead == i)]
        clusters.sort(key=lambda j: (-support[j], j))
        out[clusters[0]] = str(names[i])
        suffix = 2
        for j in clusters[1:]:
            while f"{names[i]}_{suffix}" in taken:
                suffix += 1
            out[j] = f"{names[i]}_{suffix}"
            taken.add(out[j])
            suffix += 1
    return [str(name) for name in out]


def q_matrix(samples, q: np.ndarray, names: list[str]) -> pd.DataFrame:
    """The Q table: ``sample``, then one column per cluster (its name), each row renormalised to sum to one
    (the soft assignments as written to a table are rounded)."""
    q = np.asarray(q, dtype=np.float64)
    if q.shape[1] != len(names):
        raise ValueError(f"{q.shape[1]} clusters but {len(names)} names")
    if (q < 0).any() or not np.isfinite(q).all():
        raise ValueError("soft assignments must be finite and non-negative")
    q = q / q.sum(axis=1, keepdims=True)
    return pd.DataFrame({"sample": np.asarray(samples), **{name: q[:, j] for j, name in enumerate(names)}})


def load_cec(weights, config: dict) -> CEC:
    """The trained CEC of rule train_cec: its ``cec.pt`` state dict and the contents of its ``cec.json``
    (``cae``, ``k``, the ``clustering`` keys it ran with), in eval mode."""
    import torch

    clustering = config["clustering"]
    model = CEC(
        cae_from_config(config["cae"]),
        int(config["k"]),
        alpha=clustering["alpha"],
        freeze_batchnorm=clustering["freeze_batchnorm"],
        kernel=clustering.get("kernel", "isotropic"),
    )
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def soft_assignments(model: CEC, images, device: str = "auto") -> np.ndarray:
    """CEC's q (n, K) of every sample of its input (images or a GenotypeData), as train_cec computes it."""
    loader = sample_loader(images, batch_size=inference_batch(model, images), with_index=True)
    q = predict_q(model, loader, device=device)
    model.cpu()
    return q


def new_cohort_q(
    model: CEC, aligned, model_af: np.ndarray, device: str = "auto", block: int = 256
) -> np.ndarray:
    """CEC's q (n, K) of a new cohort's samples from their alt counts aligned to the model's variants.

    Parameters
    ----------
    model : the model cohort's CEC (:func:`load_cec`)
    aligned : (samples, model variants) int8 alt counts in the model's orientation, -1 where the variant or
        call is missing (numpy or the Zarr array of rule predict's ``aligned.zarr``); read ``block`` samples
        at a time
    model_af : (model variants,) the model cohort's alt-allele frequency of each variant: a missing value
        takes 2 · AF, as in rule predict (:func:`popcen.classification.newcohort.aligned_images`)
    """
    n = aligned.shape[0]
    if aligned.shape[1] != len(model_af):
        raise ValueError(f"{aligned.shape[1]} aligned variants for {len(model_af)} model variants")
    if isinstance(model.cae, SeqCAE):  # read and scaled batch by batch
        return soft_assignments(model, aligned_images(aligned, model_af, seqcae.ARCHITECTURE), device)
    blocks = [
        soft_assignments(model, aligned_images(np.asarray(aligned[s : s + block]), model_af), device)
        for s in range(0, n, block)
    ]
    return np.concatenate(blocks) if blocks else np.zeros((0, model.n_clusters))


def structure_order(groups, q: np.ndarray, group_order: list[str] | None = None, last=("unassigned",)):
    """The sample order of a STRUCTURE plot: samples grouped (by population or call), the groups in
    ``group_order`` or else ordered by the cluster that leads them (their mean q's argmax, then name), the
    groups of ``last`` (e.g. ``unassigned``) at the end; within a group the samples whose largest share is
    the group's leading cluster first, then those of its second cluster, ..., each block by that share,
    largest first.

    Returns
    -------
    order : (n,) sample indices
    spans : [(group, first position, last position + 1)] in plot order
    """
    groups = np.asarray(groups).astype(str)
    q = np.asarray(q, dtype=np.float64)
    present = list(pd.unique(groups))
    if group_order is None:
        lead = {g: int(q[groups == g].mean(axis=0).argmax()) for g in present}
        present.sort(key=lambda g: (g in last, lead[g], g))
    else:
        present = [g for g in group_order if g in set(present)] + [
            g for g in sorted(present) if g not in set(group_order)
        ]
    order, spans = [], []
    for g in present:
        idx = np.flatnonzero(groups == g)
        # the group's clusters ranked by their mean share; each sample by the rank of its own largest
        # cluster, then by that cluster's share (blocks of one colour, each from pure to mixed)
        rank = np.argsort(np.argsort(-q[idx].mean(axis=0), kind="stable"), kind="stable")
        own = q[idx].argmax(axis=1)
        idx = idx[np.lexsort((idx, -q[idx, own], rank[own]))]
        spans.append((g, len(order), len(order) + len(idx)))
        order.extend(int(i) for i in idx)
    return np.asarray(order, dtype=np.int64), spans
