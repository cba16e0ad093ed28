"""Figures of the genotype QC."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from popcen.qc import KEPT, REASONS


def plot_qc_summary(table: pd.DataFrame, path) -> None:
    """Stacked bars per contig: records kept by QC, then dropped per reason; dots: left after LD pruning."""
    cols = [c for c in (KEPT, *REASONS) if c in table.columns and table[c].sum() > 0]
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(table) + 3), 4))
    table[cols].plot.bar(stacked=True, ax=ax, width=0.8, colormap="tab20")
    ax.plot(range(len(table)), table["ld_pruned_kept"], "ko", label="after LD pruning")
    ax.set_ylabel("VCF records")
    ax.set_xlabel("contig")
    ax.set_title("Variant QC: every record kept or dropped with its reason")
    ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
