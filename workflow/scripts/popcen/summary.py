"""One page per cohort with the numbers that matter, for the report's Summary category."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="summary", float_format=lambda x: f"{x:.3f}")


def trained_cohort_sections(qc_summary, samples, clustering_metrics: dict, k_choice, classification_metrics: dict,
                            explain_metrics, top_variants) -> list[tuple[str, str]]:
    """(title, html) sections of a cohort that trains its own models, from the stages' output tables."""
    qc = pd.read_csv(qc_summary, sep="\t", index_col=0)
    total = qc.loc["total"]
    labels = pd.read_csv(samples, sep="\t", dtype=str)
    level0 = labels.columns[1] if labels.shape[1] > 1 else None
    sections = []
    counts = (labels.groupby(level0).size().rename("samples").reset_index() if level0 else
              pd.DataFrame({"samples": [len(labels)]}))
    sections.append(("Samples and variants", (
        f"<p>{len(labels)} samples; {int(total['records'])} VCF records, {int(total['kept'])} bi-allelic SNVs "
        f"kept by QC, <b>{int(total['ld_pruned_kept'])}</b> variants after LD pruning (the features).</p>"
        + _table(counts))))

    rows = []
    for level, path in clustering_metrics.items():
        m = pd.read_csv(path, sep="\t")
        cec = m[m["method"] == "cec"].iloc[0]
        baselines = m[m["method"] != "cec"].sort_values("ARI", ascending=False)
        best = baselines.iloc[0]
        rows.append({"level": level, "K": int(cec["k"]), "CEC ARI": cec["ARI"], "CEC NMI": cec["NMI"],
                     "best baseline": f"{best['method']} ({best['space']})", "its ARI": best["ARI"],
                     "its NMI": best["NMI"]})
    choice = json.loads(Path(k_choice).read_text())
    sections.append(("Clustering", _table(pd.DataFrame(rows))
                     + f"<p>K chosen without labels: <b>{choice['k']}</b> ({html.escape(choice['reason'])}).</p>"))

    rows = []
    for level, path in classification_metrics.items():
        m = pd.read_csv(path, sep="\t")
        m = m[m["level"] == level].pivot_table(index="model", columns="metric", values="value").reset_index()
        m.insert(0, "level", level)
        rows.append(m)
    cls = pd.concat(rows, ignore_index=True)
    keep = [c for c in ("level", "model", "f1", "mcc", "precision", "recall", "accuracy") if c in cls.columns]
    lgb = pd.read_csv(explain_metrics, sep="\t")
    lgb = lgb[lgb["model"].str.startswith("lightgbm")].pivot_table(
        index=["level", "model"], columns="metric", values="value").reset_index()
    both = pd.concat([cls[keep], lgb[[c for c in keep if c in lgb.columns]]], ignore_index=True)
    both.columns.name = None
    sections.append(("Classification (cross-validated, out-of-fold; macro averages)", _table(both)))

    top = pd.read_csv(top_variants, sep="\t")
    top = top[top["scope"] == "overall"].drop(columns=["scope"]).head(10)
    sections.append(("Top variants by mean |SHAP| (LightGBM)", _table(top)))
    return sections


def predicted_cohort_sections(overlap_json, predictions) -> list[tuple[str, str]]:
    """Sections of a cohort predicted with another cohort's model."""
    overlap = json.loads(Path(overlap_json).read_text())
    pred = pd.read_csv(predictions, sep="\t", dtype=str)
    text = (f"<p>{overlap['n_samples']} samples predicted with the model of cohort "
            f"<b>{html.escape(overlap['model_cohort'])}</b>; {overlap['matched']} of its "
            f"{overlap['n_training_variants']} variants found (overlap {overlap['overlap']:.1%}: "
            f"{overlap['exact']} exact, {overlap['swapped']} with REF/ALT swapped, "
            f"{overlap['strand'] + overlap['strand_swapped']} strand-flipped, {overlap['missing']} missing, "
            f"set to the training mean).</p>")
    acc = overlap.get("accuracy_where_labelled") or {}
    if acc:
        text += "<p>Accuracy against the panel's labels: " + ", ".join(
            f"{html.escape(k)} {v:.3f}" for k, v in acc.items()) + ".</p>"
    counts = pred.groupby("predicted").size().rename("samples").reset_index()
    return [("Predictions", text + _table(counts))]


def write_summary_page(cohort: str, sections: list[tuple[str, str]], path) -> None:
    body = "".join(f"<h3>{html.escape(title)}</h3>{content}" for title, content in sections)
    Path(path).write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>popcen summary: "
        f"{html.escape(cohort)}</title><style>body{{font-family:sans-serif;margin:1em}}"
        "table.summary{border-collapse:collapse}table.summary td,table.summary th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}</style></head><body>"
        f"<h2>Cohort {html.escape(cohort)}</h2>{body}</body></html>"
    )
