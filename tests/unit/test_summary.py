"""The cohort summary page (popcen.summary) from the stages' tables."""

import re

import pandas as pd

from popcen.summary import predicted_cohort_sections, summary_page, trained_cohort_sections


def test_trained_cohort_sections_from_tables():
    qc = pd.DataFrame(
        {"records": [10, 10], "kept": [6, 6], "ld_pruned_kept": [4, 4]}, index=["chr1", "total"]
    )
    labels = pd.DataFrame(
        {"sample": ["a", "b", "c"], "pop": ["YRI", "YRI", "CEU"], "super_pop": ["AFR", "AFR", "EUR"]}
    )
    clustering = pd.DataFrame(
        {
            "method": ["cec", "kmeans"],
            "space": ["latent", "pca"],
            "k": [2, 2],
            "ARI": [0.9, 0.5],
            "NMI": [0.8, 0.4],
        }
    )
    classification = pd.DataFrame(
        {"level": ["pop", "pop"], "model": ["cae_mlp"] * 2, "metric": ["f1", "mcc"], "value": [0.7, 0.6]}
    )
    explain = pd.DataFrame({"level": ["pop"], "model": ["lightgbm"], "metric": ["f1"], "value": [0.8]})
    top = pd.DataFrame({"scope": ["overall", "YRI"], "id": ["rs1", "rs2"], "mean_abs_shap": [0.3, 0.2]})
    sections = trained_cohort_sections(
        qc,
        labels,
        ["pop", "super_pop"],
        {"pop": clustering},
        {"k": 2, "reason": "silhouette"},
        {"pop": classification},
        explain,
        top,
    )
    titles = [t for t, _ in sections]
    assert titles[:2] == ["Samples and variants", "Clustering"] and len(sections) == 4
    samples_html = sections[0][1]
    assert "<b>4</b> variants after LD pruning" in samples_html and "YRI" in samples_html  # per fine level
    assert "silhouette" in sections[1][1] and "rs1" in sections[3][1] and "rs2" not in sections[3][1]
    page = summary_page("demo", sections)
    assert page.startswith("<!DOCTYPE html>") and "Cohort demo" in page


def test_predicted_cohort_sections():
    overlap = {
        "n_samples": 3,
        "model_cohort": "demo",
        "matched": 9,
        "n_training_variants": 10,
        "overlap": 0.9,
        "exact": 7,
        "swapped": 1,
        "strand": 1,
        "strand_swapped": 0,
        "missing": 1,
        "accuracy_where_labelled": {"pop": 1.0},
    }
    pred = pd.DataFrame({"sample": ["a", "b", "c"], "predicted": ["YRI", "YRI", "CEU"]})
    ((title, text),) = predicted_cohort_sections(overlap, pred)
    assert title == "Predictions" and "overlap 90.0%" in text and "pop 1.000" in text
    assert "Pearson r" not in text  # a report without the comparison (too few variants, older runs)
    overlap.update(af_correlation=-0.98, af_compared=9, af_warning="r = -0.98 <  0.2: REF/ALT swapped?")
    ((_, text),) = predicted_cohort_sections(overlap, pred)
    assert "9 matched variants against the model cohort's: Pearson r = -0.980" in text
    assert "<b>Warning:</b> r = -0.98 &lt;  0.2: REF/ALT swapped?" in text


def test_clustering_section_states_k_and_where_it_came_from():
    qc = pd.DataFrame({"records": [10], "kept": [6], "ld_pruned_kept": [4]}, index=["total"])
    labels = pd.DataFrame({"sample": ["a", "b", "c"], "pop": ["YRI", "YRI", "CEU"]})
    explain = pd.DataFrame({"level": ["pop"], "model": ["lightgbm"], "metric": ["f1"], "value": [0.8]})
    classification = explain.assign(model="cae_mlp")
    top = pd.DataFrame({"scope": ["overall"], "id": ["rs1"], "mean_abs_shap": [0.3]})

    def clustering_html(k, source):
        metrics = pd.DataFrame(
            {
                "method": ["cec", "kmeans"],
                "space": ["latent", "latent"],
                "k": [k, k],
                "k_source": [source, source],
                "n_labels": [2, 2],
                "ARI": [0.9, 0.5],
                "NMI": [0.8, 0.4],
            }
        )
        sections = trained_cohort_sections(
            qc,
            labels,
            ["pop"],
            {"pop": metrics},
            {"k": 4, "reason": "elbow"},
            {"pop": classification},
            explain,
            top,
        )
        return dict(sections)["Clustering"]

    def first_row(html):
        """The clustering table's first row, header -> cell text."""
        header = re.findall(r"<th>(.*?)</th>", html)
        cells = re.findall(r"<td>(.*?)</td>", html)
        return dict(zip(header, cells[: len(header)], strict=True))

    row = first_row(clustering_html(4, "sweep"))
    assert (row["K"], row["K from"], row["labels"]) == ("4", "K sweep", "2")
    assert "ran at it" in clustering_html(4, "sweep")
    row = first_row(clustering_html(2, "labels"))
    assert (row["K"], row["K from"]) == ("2", "number of labels")
    assert "reported, not used" in clustering_html(2, "labels")
    assert first_row(clustering_html(7, "config"))["K from"] == "clustering.k"
