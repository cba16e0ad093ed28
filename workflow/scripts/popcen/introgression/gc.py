"""GC content of introgressed regions, controls, genes and the whole genome."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu


def gc_summary(groups: dict[str, np.ndarray], composition: pd.DataFrame) -> pd.DataFrame:
    """n, mean, sd, quartiles of the GC fraction per group, plus the genome's (A+C+G+T of the reference).

    A Mann-Whitney U test compares every group with the controls (the null of the k-mer models).
    """
    rows = []
    for name, gc in groups.items():
        gc = np.asarray(gc, float)
        gc = gc[~np.isnan(gc)]
        p = (
            mannwhitneyu(gc, groups["control"]).pvalue
            if name != "control" and len(gc) and len(groups["control"])
            else float("nan")
        )
        q = np.percentile(gc, [25, 50, 75]) if len(gc) else [np.nan] * 3
        rows.append(
            {
                "set": name,
                "n": len(gc),
                "mean": gc.mean() if len(gc) else np.nan,
                "sd": gc.std(ddof=1) if len(gc) > 1 else np.nan,
                "q25": q[0],
                "median": q[1],
                "q75": q[2],
                "mannwhitney_p_vs_control": p,
            }
        )
    acgt = composition[["A", "C", "G", "T"]].to_numpy().sum()
    gc_genome = composition[["G", "C"]].to_numpy().sum() / acgt
    rows.append(
        {
            "set": "genome",
            "n": len(composition),
            "mean": gc_genome,
            "sd": np.nan,
            "q25": np.nan,
            "median": np.nan,
            "q75": np.nan,
            "mannwhitney_p_vs_control": np.nan,
        }
    )
    return pd.DataFrame(rows)


def gc_groups(sequences: pd.DataFrame, gene_gc: np.ndarray) -> dict[str, np.ndarray]:
    """GC fractions of the introgressed sequences, the controls (``label`` 1 / 0 of the sequence table)
    and the genes."""
    return {
        "introgressed": sequences.loc[sequences["label"] == 1, "gc"].to_numpy(),
        "control": sequences.loc[sequences["label"] == 0, "gc"].to_numpy(),
        "gene": np.asarray(gene_gc),
    }
