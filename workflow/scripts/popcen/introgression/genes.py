"""Gene sequences scored by the trained k-mer model on the saved training vocabulary."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pysam

from popcen.introgression.kmers import matrix_on_vocabulary
from popcen.introgression.sequences import fetch_windows

log = logging.getLogger("popcen")


def lacks_a_base(seq: bytes) -> bool:
    """True when any of A, C, G, T does not occur in ``seq`` (all-N windows, low-complexity junk)."""
    return any(b not in seq for b in (b"A", b"C", b"G", b"T"))


def gene_sequences(fasta: pysam.FastaFile, genes: pd.DataFrame, gene_len: int):
    """The first ``gene_len`` bp of each gene from its 5' end (strand-aware), on the reference strand.

    Genes shorter than ``gene_len`` and windows lacking any of A, C, G, T are dropped and counted.

    Returns
    -------
    (table, seqs, counts)
    """
    long_enough = (genes["end"] - genes["start"]) >= gene_len
    kept = genes[long_enough].reset_index(drop=True)
    seqs = fetch_windows(fasta, kept, gene_len, from_end=(kept["strand"] == "-").to_numpy(), desc="genes")
    bad = np.array([lacks_a_base(s) for s in seqs], bool)
    table = kept[~bad].reset_index(drop=True)
    seqs = [s for s, b in zip(seqs, bad, strict=True) if not b]
    counts = {
        "genes": len(genes),
        "dropped_shorter_than_gene_len": int((~long_enough).sum()),
        "dropped_lacking_a_base": int(bad.sum()),
        "scored": len(table),
    }
    log.info(
        "genes: %d on the reference, %d shorter than %d bp, %d lacking one of A/C/G/T, %d scored",
        counts["genes"],
        counts["dropped_shorter_than_gene_len"],
        gene_len,
        counts["dropped_lacking_a_base"],
        counts["scored"],
    )
    return table, seqs, counts


def rank_genes(table: pd.DataFrame, proba: np.ndarray, threshold: float = 0.5) -> pd.DataFrame:
    """Ranked gene table: gene_id, symbol, chrom, start, end, strand, biotype, predicted_label,
    p_introgressed, p_control (and gc when given), most probably introgressed first."""
    cols = ["gene_id", "symbol", "chrom", "start", "end", "strand", "biotype"]
    out = table[cols + (["gc"] if "gc" in table else [])].copy()
    out["predicted_label"] = np.where(proba >= threshold, "introgressed", "control")
    out["p_introgressed"] = proba
    out["p_control"] = 1.0 - proba
    out = out.sort_values("p_introgressed", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def score_genes(
    model, seqs: list[bytes], vocabulary: np.ndarray, k: int, canonical: bool, n_features: int
) -> np.ndarray:
    """P(introgressed) of each gene sequence by a fitted classifier, on the training vocabulary's columns
    (not a re-fitted vocabulary: a k-mer unseen in training has no column)."""
    X = matrix_on_vocabulary(seqs, vocabulary, k, canonical)
    if X.shape[1] != n_features:
        raise RuntimeError(f"gene matrix has {X.shape[1]} columns, the model was trained on {n_features}")
    return model.predict_proba(X)[:, 1] if len(seqs) else np.empty(0)
