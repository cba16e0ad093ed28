"""One page per cohort with the numbers that matter, for the report's Summary category."""

from __future__ import annotations

import html

import pandas as pd

from popcen.panel import fine_level

# Where the K of CEC and the baselines came from (the k_source column of the clustering metrics).
K_FROM = {"labels": "number of labels", "sweep": "K sweep", "config": "clustering.k"}


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="summary", float_format=lambda x: f"{x:.3f}")


def trained_cohort_sections(
    qc: pd.DataFrame,
    labels: pd.DataFrame,
    levels: list[str],
    clustering_metrics: dict[str, pd.DataFrame],
    k_choice: dict,
    classification_metrics: dict[str, pd.DataFrame],
    explain_metrics: pd.DataFrame,
    top_variants: pd.DataFrame,
) -> list[tuple[str, str]]:
    """(title, html) sections of a cohort that trains its own models, from the stages' output tables.

    Parameters
    ----------
    qc : the QC summary (rule qc_summary), indexed by contig, with a ``total`` row
    labels : the samples table of the features
    levels : the cohort's label columns, fine to coarse
    clustering_metrics, classification_metrics : level -> that level's metrics table
    k_choice : the K chosen without labels (``k``, ``reason``)
    explain_metrics, top_variants : the explain stage's tables
    """
    total = qc.loc["total"]
    level0 = fine_level(levels)
    sections = []
    counts = (
        labels.groupby(level0).size().rename("samples").reset_index()
        if level0
        else pd.DataFrame({"samples": [len(labels)]})
    )
    sections.append(
        (
            "Samples and variants",
            (
                f"<p>{len(labels)} samples; {int(total['records'])} VCF records, {int(total['kept'])} bi-allelic SNVs "
                f"kept by QC, <b>{int(total['ld_pruned_kept'])}</b> variants after LD pruning (the features).</p>"
                + _table(counts)
            ),
        )
    )

    rows = []
    for level, m in clustering_metrics.items():
        cec = m[m["method"] == "cec"].iloc[0]
        baselines = m[m["method"] != "cec"].sort_values("ARI", ascending=False)
        best = baselines.iloc[0]
        rows.append(
            {
                "level": level,
                "K": int(cec["k"]),
                # tables written before clustering.k existed ran at K = the number of labels
                "K from": K_FROM.get(cec.get("k_source", "labels"), cec.get("k_source")),
                "labels": int(cec.get("n_labels", cec["k"])),
                "CEC ARI": cec["ARI"],
                "CEC NMI": cec["NMI"],
                "best baseline": f"{best['method']} ({best['space']})",
                "its ARI": best["ARI"],
                "its NMI": best["NMI"],
            }
        )
    used = any(r["K from"] == K_FROM["sweep"] for r in rows)
    sections.append(
        (
            "Clustering",
            _table(pd.DataFrame(rows))
            + f"<p>K chosen without labels (K sweep): <b>{k_choice['k']}</b> ({html.escape(k_choice['reason'])}); "
            + (
                "CEC and the baselines ran at it where K is from the K sweep (<code>clustering.k: auto</code>)."
                if used
                else "reported, not used (<code>clustering.k: auto</code> clusters at it)."
            )
            + " ARI and NMI are against the level's labels whatever K is.</p>",
        )
    )

    rows = []
    for level, m in classification_metrics.items():
        m = m[m["level"] == level].pivot_table(index="model", columns="metric", values="value").reset_index()
        m.insert(0, "level", level)
        rows.append(m)
    cls = pd.concat(rows, ignore_index=True)
    keep = [c for c in ("level", "model", "f1", "mcc", "precision", "recall", "accuracy") if c in cls.columns]
    lgb = (
        explain_metrics[explain_metrics["model"].str.startswith("lightgbm")]
        .pivot_table(index=["level", "model"], columns="metric", values="value")
        .reset_index()
    )
    both = pd.concat([cls[keep], lgb[[c for c in keep if c in lgb.columns]]], ignore_index=True)
    both.columns.name = None
    sections.append(
        (
            "Classification (cross-validated, out-of-fold; macro averages)",
            _table(both) + cv_representation_note(classification_metrics),
        )
    )

    top = top_variants[top_variants["scope"] == "overall"].drop(columns=["scope"]).head(10)
    sections.append(("Top variants by mean |SHAP| (LightGBM)", _table(top)))
    return sections


# What the CAE classifier's CV read (classification.cv_representation, a column of its metrics tables).
CV_REPRESENTATION = {
    "transductive": "every fold's classifier read the cohort's CAE, whose variant choice and weights were "
    "fitted on all samples, test folds included (without their labels); "
    "<code>classification.cv_representation: inductive</code> trains a CAE per fold instead",
    "inductive": "each fold trained its own CAE, variant choice included, on the fold's training samples "
    "only: a test sample was first seen at prediction",
}


def cv_representation_note(classification_metrics: dict[str, pd.DataFrame]) -> str:
    """A paragraph naming the CV mode of the CAE classifier's metrics (tables written before the mode
    existed ran the transductive CV)."""
    modes = sorted(
        {
            str(mode)
            for m in classification_metrics.values()
            for mode in (m["cv_representation"] if "cv_representation" in m else ["transductive"])
        }
    )
    return "".join(
        f"<p>CAE classifier's CV: <b>{html.escape(mode)}</b>: {CV_REPRESENTATION.get(mode, '')}.</p>"
        for mode in modes
    )


def predicted_cohort_sections(overlap: dict, pred: pd.DataFrame) -> list[tuple[str, str]]:
    """Sections of a cohort predicted with another cohort's model: its overlap report (rule predict's
    ``overlap.json``) and its predictions table."""
    text = (
        f"<p>{overlap['n_samples']} samples predicted with the model of cohort "
        f"<b>{html.escape(overlap['model_cohort'])}</b>; {overlap['matched']} of its "
        f"{overlap['n_training_variants']} variants found (overlap {overlap['overlap']:.1%}: "
        f"{overlap['exact']} exact, {overlap['swapped']} with REF/ALT swapped, "
        f"{overlap['strand'] + overlap['strand_swapped']} strand-flipped, {overlap['missing']} missing, "
        f"set to the training mean).</p>"
    )
    if overlap.get("af_correlation") is not None:
        text += (
            f"<p>Allele frequencies of the {overlap['af_compared']} matched variants against the model "
            f"cohort's: Pearson r = {overlap['af_correlation']:.3f}.</p>"
        )
    if overlap.get("af_warning"):
        text += f"<p><b>Warning:</b> {html.escape(overlap['af_warning'])}</p>"
    acc = overlap.get("accuracy_where_labelled") or {}
    if acc:
        text += (
            "<p>Accuracy against the panel's labels: "
            + ", ".join(f"{html.escape(k)} {v:.3f}" for k, v in acc.items())
            + ".</p>"
        )
    if "fraction_unassigned" in overlap:
        text += (
            f"<p>Probabilities calibrated with temperature {overlap['temperature']:.3g}; "
            f"{overlap['fraction_unassigned']:.1%} of the samples unassigned (top probability below "
            f"{overlap['assign_threshold']:g} or its population's threshold), "
            f"{overlap['fraction_outlier']:.1%} outliers (distance to the nearest reference population beyond "
            f"{overlap['outlier_cutoff']:.3g}); median fraction of imputed model variants "
            f"{overlap['median_missing_fraction']:.1%}.</p>"
        )
    if "call" in pred.columns and "outlier" in pred.columns:
        counts = (
            pred.assign(outlier=pred["outlier"].astype(str).str.lower() == "true")
            .groupby("call")
            .agg(samples=("sample", "size"), outliers=("outlier", "sum"))
            .reset_index()
        )
    else:
        counts = pred.groupby("predicted").size().rename("samples").reset_index()
    return [("Predictions", text + _table(counts))]


def summary_page(cohort: str, sections: list[tuple[str, str]]) -> str:
    """The HTML page of a cohort's sections."""
    body = "".join(f"<h3>{html.escape(title)}</h3>{content}" for title, content in sections)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>popcen summary: "
        f"{html.escape(cohort)}</title><style>body{{font-family:sans-serif;margin:1em}}"
        "table.summary{border-collapse:collapse}table.summary td,table.summary th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}</style></head><body>"
        f"<h2>Cohort {html.escape(cohort)}</h2>{body}</body></html>"
    )
