"""Predicting a new cohort: a saved classifier, reloaded, gives a re-encoded copy of its own cohort the
same probabilities as the original (chrom names, swapped alleles and strand flips undone by matching)."""

import numpy as np
import pandas as pd
import pytest
import torch

from popcen.classification.io import load_classifier, save_classifier
from popcen.classification.newcohort import predict_new_cohort
from popcen.classification.train import TrainSettings, predict_proba, train_final
from popcen.errors import PopcenInputError
from popcen.images import genotype_images
from popcen.models.cae import CAE, architecture

COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(1)
    n_var, per_pop = 49, 10
    pops = ["CEU", "YRI", "JPT"]
    samples = pd.DataFrame(
        {
            "sample": [f"s{i}" for i in range(3 * per_pop)],
            "pop": np.repeat(pops, per_pop),
            "super_pop": np.repeat(["EUR", "AFR", "EAS"], per_pop),
        }
    )
    gn = rng.integers(0, 3, size=(len(samples), n_var)).astype(np.int8)
    gn[3, 5] = -1
    ref = rng.choice(list("ACGT"), n_var)
    alt = np.array([rng.choice([b for b in "ACGT" if b not in (r, COMP[r])]) for r in ref])  # no A/T, C/G
    variants = pd.DataFrame(
        {
            "id": [f"rs{i}" for i in range(n_var)],
            "chrom": "chr7",
            "pos": np.arange(n_var) * 10 + 5,
            "ref": ref,
            "alt": alt,
        }
    )
    called = gn >= 0
    variants["af"] = np.where(called, gn, 0).sum(0) / (2 * called.sum(0))
    images, kept = genotype_images(gn)
    torch.manual_seed(0)
    cae = CAE(architecture(images.shape[-1], n_var, latent_dim=4, base_channels=4))
    settings = TrainSettings(max_epochs=2, patience=0, batch_size=8, device="cpu", val_fraction=0.2)
    model, meta, _ = train_final(
        images, samples, "pop", settings, "super_pop", None, cae.config.to_dict(), cae.state_dict(), kept
    )
    folder = tmp_path_factory.mktemp("model")
    save_classifier(model, folder / "model.pt", folder / "model.json", meta)
    reloaded, meta = load_classifier(folder / "model.pt", folder / "model.json")
    np.testing.assert_allclose(
        predict_proba(reloaded, images, "cpu"), predict_proba(model, images, "cpu"), atol=1e-6
    )
    return reloaded, meta, gn, variants, samples, predict_proba(reloaded, images, "cpu")


def test_reencoded_cohort_gets_the_same_probabilities(trained):
    model, meta, gn, variants, samples, expected = trained
    new = variants[["chrom", "pos", "ref", "alt"]].copy()
    new["chrom"] = "7"
    new_gn = gn.copy()
    swap = np.arange(len(new)) % 3 == 1  # alleles swapped: counts 2 - x (missing stays missing)
    new.loc[swap, ["ref", "alt"]] = new.loc[swap, ["alt", "ref"]].to_numpy()
    new_gn[:, swap] = np.where(gn[:, swap] >= 0, 2 - gn[:, swap], -1)
    flip = np.arange(len(new)) % 3 == 2  # reported on the other strand
    new.loc[flip, "ref"] = new.loc[flip, "ref"].map(COMP)
    new.loc[flip, "alt"] = new.loc[flip, "alt"].map(COMP)
    order = np.random.default_rng(0).permutation(len(new))  # the new cohort's own record order
    pred, matching, report = predict_new_cohort(
        model, meta, variants, new_gn[:, order], new.iloc[order], samples, 0.5, "exact", "new"
    )
    assert report["overlap"] == 1.0 and report["swapped"] == swap.sum() and report["strand"] == flip.sum()
    proba = pred[[f"p_{p}" for p in meta["labels"]]].to_numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    assert pred["predicted"].tolist() == np.asarray(meta["labels"])[expected.argmax(1)].tolist()
    mapping = {"CEU": "EUR", "YRI": "AFR", "JPT": "EAS"}
    assert pred["predicted_super_pop"].tolist() == [mapping[p] for p in pred["predicted"]]
    assert {"pop", "super_pop"} <= set(pred.columns)
    assert (matching["status"] != "missing").all()


def test_missing_variants_take_the_training_mean(trained):
    model, meta, gn, variants, samples, _ = trained
    keep = np.arange(len(variants)) >= 10  # the first 10 variants absent from the new cohort
    pred, matching, report = predict_new_cohort(
        model,
        meta,
        variants,
        gn[:, keep],
        variants.loc[keep, ["chrom", "pos", "ref", "alt"]],
        samples[["sample"]],
        0.5,
        "exact",
        "new",
    )
    assert report["missing"] == 10 and (matching["status"].iloc[:10] == "missing").all()
    filled = gn.astype(float)
    filled[:, :10] = 2 * variants["af"].to_numpy()[:10]
    filled[gn < 0] = (2 * variants["af"].to_numpy())[np.nonzero(gn < 0)[1]]
    from popcen.images import to_images

    want = predict_proba(model, to_images((filled / 2).astype(np.float32)), "cpu")
    np.testing.assert_allclose(pred[[f"p_{p}" for p in meta["labels"]]].to_numpy(), want, atol=1e-5)
    assert "pop" not in pred.columns  # an unlabelled cohort: probabilities and predicted labels only


def test_no_overlap_is_a_clear_error(trained):
    model, meta, gn, variants, samples, _ = trained
    elsewhere = variants[["chrom", "pos", "ref", "alt"]].assign(chrom="chr8")
    with pytest.raises(PopcenInputError, match=r"only 0 of 49 training variants .* min_overlap"):
        predict_new_cohort(model, meta, variants, gn, elsewhere, samples, 0.5, "exact", "new cohort")


def test_usable_records_include_the_frequency_filtered_ones():
    from popcen.classification.newcohort import usable_rows

    qc = pd.DataFrame({"status": ["kept", "low_maf", "multi_allelic", "low_mac", "low_call_rate"]})
    assert usable_rows(qc).tolist() == [0, 1, 3]
    with pytest.raises(PopcenInputError, match="no 'status' column"):
        usable_rows(qc.rename(columns={"status": "x"}), "chr1.variants.tsv.gz")


def test_calibrated_calls_distance_and_missing_fraction(trained):
    """predict_new_cohort with a temperature, thresholds and an out-of-reference model: calibrated
    probabilities, calls, the distance of the sample's genotypes to the population they fit best, outlier
    beyond the cutoff, and each sample's fraction of model variants that took the training mean."""
    from scipy.special import softmax

    from popcen.classification.exclusion import array_blocks, fit_exclusion
    from popcen.images import to_images
    from popcen.representation import cae_from_config

    model, meta, gn, variants, samples, expected = trained
    torch.manual_seed(3)
    cae = cae_from_config(meta["cae"]).eval()
    keep = np.arange(len(variants)) >= 7  # 7 of 49 model variants absent
    new_gn = gn[:, keep].copy()
    new_gn[0, :5] = -1  # and sample 0 misses 5 more calls
    filled = gn.astype(np.float32)
    filled[:, :7] = 2 * variants["af"].to_numpy()[:7]
    filled[0, 7:12] = 2 * variants["af"].to_numpy()[7:12]
    filled[gn < 0] = (2 * variants["af"].to_numpy())[np.nonzero(gn < 0)[1]]
    excluder, _ = fit_exclusion(lambda: array_blocks(gn[6:]), samples["pop"][6:])
    raw = predict_proba(model, to_images(filled / 2), "cpu")
    pred, _, _ = predict_new_cohort(
        model,
        meta,
        variants,
        new_gn,
        variants.loc[keep, ["chrom", "pos", "ref", "alt"]],
        samples,
        0.5,
        "exact",
        "new",
        device="cpu",
        calibration={"labels": meta["labels"], "temperature": 0.5, "proba_floor": 1e-6},
        assign_threshold=0.9,
        population_thresholds={"YRI": 0.2},
        cae=cae,
        reference=(excluder, 1.0),
    )
    calibrated = softmax(np.log(np.clip(raw, 1e-6, 1)) / 0.5, axis=1)
    np.testing.assert_allclose(pred[[f"p_{p}" for p in meta["labels"]]].to_numpy(), calibrated, atol=1e-5)
    top = np.asarray(meta["labels"])[calibrated.argmax(1)]
    assert pred["most_similar"].tolist() == top.tolist() == pred["predicted"].tolist()
    threshold = np.where(top == "YRI", 0.2, 0.9)
    assigned = calibrated.max(1) >= threshold
    assert pred["call"].tolist() == np.where(assigned, top, "unassigned").tolist()
    assert {"call_super_pop", "top_probability_super_pop"} <= set(pred.columns)
    # missing: 7 absent variants (+ 5 calls for sample 0; the fixture's missing call of sample 3 is at
    # variant 5, one of the absent ones)
    want = np.full(len(samples), 7 / 49)
    want[0] += 5 / 49
    np.testing.assert_allclose(pred["missing_fraction"], want, atol=1e-6)
    # the distance, computed here variant by variant from the reference's allele counts: the called
    # genotypes' log-likelihood under each population less its expectation, over the root of its variance,
    # standardised by the population's members; the distance is minus that of the most similar population
    aligned = gn.copy()
    aligned[:, :7] = -1
    aligned[0, 7:12] = -1
    dist, best = [], []
    for g, similar in zip(aligned, pred["most_similar"], strict=True):
        z = []
        for k in range(len(excluder.labels)):
            dev = var = 0.0
            for m in np.flatnonzero(g >= 0):
                p = (excluder.alt[k, m] + 0.5) / (excluder.called[k, m] + 1.0)
                probs = np.array([(1 - p) ** 2, 2 * p * (1 - p), p**2])
                mean = (probs * np.log(probs)).sum()
                dev += np.log(probs[g[m]]) - mean
                var += (probs * (np.log(probs) - mean) ** 2).sum()
            z.append((dev / np.sqrt(var) - excluder.mean[k]) / excluder.sd[k])
        dist.append(-z[excluder.labels.index(similar)])
        best.append(excluder.labels[int(np.argmax(z))])
    dist = np.array(dist)
    np.testing.assert_allclose(pred["distance"], dist, rtol=1e-4, atol=1e-5)
    assert pred["nearest_reference"].tolist() == best
    assert pred["outlier"].tolist() == (dist > 1.0).tolist()
    with pytest.raises(PopcenInputError, match="re-run calibrate_classifier"):
        predict_new_cohort(
            model,
            meta,
            variants,
            gn,
            variants[["chrom", "pos", "ref", "alt"]],
            samples,
            0.5,
            "exact",
            "new",
            calibration={"labels": ["a", "b", "c"], "temperature": 1.0},
        )


# ------------------------------------------------------------------ allele frequencies against the model's
def test_af_concordance_by_hand():
    from popcen.variant_matching import af_concordance

    counts = np.array([[0, 2, -1, 1], [1, 2, 0, -1], [2, 0, 1, -1]], dtype=np.int8)  # samples x new records
    match = pd.DataFrame(
        {
            "new_index": [2, 0, -1, 1, 3],
            "status": ["exact", "swapped", "missing", "exact", "exact"],
            "flip": [False, True, False, False, False],
        }
    )
    train_af = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    # new AFs over called samples: record 2: (0 + 1) / 4; record 0: (0 + 1 + 2) / 6, flipped: 1 - 1/2;
    # the third training variant is missing; record 1: (2 + 2 + 0) / 6; record 3: 1 / 2
    x, y = np.array([0.1, 0.2, 0.4, 0.5]), np.array([0.25, 0.5, 2 / 3, 0.5])
    dx, dy = x - x.mean(), y - y.mean()
    r = (dx * dy).sum() / np.sqrt((dx**2).sum() * (dy**2).sum())
    report = af_concordance(counts, match, train_af, min_variants=4)
    assert report["af_compared"] == 4 and report["af_correlation"] == pytest.approx(r, abs=1e-6)
    assert af_concordance(counts, match, train_af)["af_correlation"] is None  # fewer than 20: not judged


def _swapped_in_text_only(variants):
    """The new cohort's table with REF and ALT exchanged, its genotypes not recoded."""
    new = variants[["chrom", "pos", "ref", "alt"]].copy()
    new[["ref", "alt"]] = new[["alt", "ref"]].to_numpy()
    return new


def test_reencoded_cohort_reports_a_full_af_correlation(trained):
    model, meta, gn, variants, samples, _ = trained
    _, _, report = predict_new_cohort(
        model,
        meta,
        variants,
        gn,
        variants[["chrom", "pos", "ref", "alt"]],
        samples,
        0.5,
        "exact",
        "new",
        min_af_correlation=0.2,
    )
    assert report["af_correlation"] == pytest.approx(1.0) and report["af_compared"] == 49
    assert "af_warning" not in report


def test_alleles_swapped_without_recoding_stop_predict(trained):
    model, meta, gn, variants, samples, _ = trained
    with pytest.raises(PopcenInputError) as e:
        predict_new_cohort(
            model,
            meta,
            variants,
            gn,
            _swapped_in_text_only(variants),
            samples,
            0.5,
            "exact",
            "new.vcf.gz",
            min_af_correlation=0.2,
        )
    msg = str(e.value)  # the new AF of each variant is 1 - its training AF: r = -1
    assert msg.startswith(
        "new.vcf.gz: the allele frequencies of the 49 matched variants correlate at r = -1.00"
    )
    assert "REF/ALT swapped" in msg and "min_af_correlation = 0.2" in msg and "\n" not in msg


def test_alleles_swapped_without_recoding_warn_when_so_configured(trained, caplog):
    model, meta, gn, variants, samples, _ = trained
    with caplog.at_level("WARNING", logger="popcen"):
        pred, _, report = predict_new_cohort(
            model,
            meta,
            variants,
            gn,
            _swapped_in_text_only(variants),
            samples,
            0.5,
            "exact",
            "new",
            min_af_correlation=0.2,
            af_mismatch="warn",
        )
    assert report["af_correlation"] == pytest.approx(-1.0) and "REF/ALT swapped" in report["af_warning"]
    assert "correlate at r = -1.00" in caplog.text and len(pred) == len(samples)


def test_other_variants_at_the_positions_stop_predict(trained):
    # Another build: each position holds another variant's genotypes (the columns permuted).
    model, meta, gn, variants, samples, _ = trained
    perm = np.random.default_rng(1).permutation(len(variants))
    af = variants["af"].to_numpy()
    expected = np.corrcoef(af, af[perm])[0, 1]
    assert abs(expected) < 0.2  # the data of this test: near zero
    with pytest.raises(
        PopcenInputError, match=rf"correlate at r = {expected:.2f} .* another reference build"
    ):
        predict_new_cohort(
            model,
            meta,
            variants,
            gn[:, perm],
            variants[["chrom", "pos", "ref", "alt"]],
            samples,
            0.5,
            "exact",
            "new",
            min_af_correlation=0.2,
        )
    _, _, report = predict_new_cohort(
        model,
        meta,
        variants,
        gn[:, perm],
        variants[["chrom", "pos", "ref", "alt"]],
        samples,
        0.5,
        "exact",
        "new",
        min_af_correlation=None,
    )  # no threshold: reported only
    assert report["af_correlation"] == pytest.approx(expected, abs=1e-6)


def test_predict_rule_stops_on_swapped_alleles_and_leaves_no_output(trained, tmp_path, monkeypatch):
    from popcen.pipeline import call
    from popcen.pipeline import predict as rule

    model, meta, gn, variants, samples, _ = trained
    monkeypatch.setattr(rule, "load_classifier", lambda *a: (model, meta))
    monkeypatch.setattr(rule, "load_cae", lambda *a: (None, {}))
    labels = meta["labels"]
    monkeypatch.setattr(
        rule,
        "read_json",
        lambda p: {"temperature": 1.0, "labels": labels, "cutoff": 1, "mean": [0] * 3, "sd": [1] * 3},
    )
    counts = tmp_path / "reference.npz"
    np.savez(counts, alt=np.zeros((3, gn.shape[1])), called=np.zeros((3, gn.shape[1])))
    monkeypatch.setattr(rule, "read_variants", lambda p: variants)
    monkeypatch.setattr(rule, "_kept_samples", lambda p: samples)
    monkeypatch.setattr(rule, "_usable_records", lambda *a: (gn, _swapped_in_text_only(variants)))
    out = tmp_path / "predict"
    params = dict(
        model_cohort="m",
        min_overlap=0.5,
        strand_ambiguous="exact",
        assign_threshold=0.75,
        population_thresholds={},
        device="cpu",
        min_af_correlation=0.2,
        af_mismatch="stop",
    )
    names = ("weights", "meta", "model_variants", "calibration", "reference", "cae_weights", "cae_json")
    with pytest.raises(PopcenInputError, match="REF/ALT swapped"):
        call(
            rule.predict,
            input={
                **{k: f"{k}.x" for k in names},
                "reference_counts": counts,
                "zarr": ["a.zarr"],
                "qc": ["a.tsv.gz"],
                "samples": ["s"],
            },
            output={k: out / f"{k}.out" for k in ("predictions", "matching", "overlap")},
            params=params,
            wildcards={"cohort": "new"},
        )
    assert out.exists() and not any(out.iterdir())  # the folder Snakemake makes, nothing in it


def test_a_sequence_cae_reads_the_aligned_counts_in_batches_with_the_image_values():
    """For a sequence CAE predict hands the int8 counts on (scaled where a batch is read), not a float copy
    of the whole cohort; the values are those of the image layout: count / 2, a missing one 2 · AF / 2."""
    from popcen.batches import GenotypeData, scale_rows
    from popcen.classification.newcohort import aligned_images

    aligned = np.array([[0, 2, -1], [1, -1, 2]], dtype=np.int8)
    af = np.array([0.1, 0.5, np.nan])  # an unknown AF imputes 0
    data = aligned_images(aligned, af, "sequence")
    assert isinstance(data, GenotypeData) and data.alt_count is aligned
    x = scale_rows(aligned, data.means)[:, 0]
    np.testing.assert_allclose(x, [[0, 1, 0], [0.5, 0.5, 1]])
    np.testing.assert_allclose(aligned_images(aligned, af).reshape(2, -1)[:, :3], x)


def test_records_read_from_contig_stores_only_where_they_match(trained, tmp_path):
    """A new cohort whose records are mostly not model variants (a WGS cohort against a pruned model),
    kept in two per-contig stores: predicting through :class:`ContigRecords` reads only the matched records
    and gives what the whole int8 matrix in memory gives."""
    import zarr
    from numcodecs import VLenUTF8

    from popcen.classification.newcohort import ContigRecords

    model, meta, gn, variants, samples, _ = trained
    rng = np.random.default_rng(4)
    n_extra = 3 * len(variants)
    extra = rng.integers(-1, 3, size=(len(samples), n_extra)).astype(np.int8)
    table = pd.concat(
        [
            variants[["chrom", "pos", "ref", "alt"]],
            pd.DataFrame({"chrom": "chr7", "pos": np.arange(n_extra) * 10 + 7, "ref": "A", "alt": "C"}),
        ],
        ignore_index=True,
    )
    counts = np.concatenate([gn, extra], axis=1)
    order = np.lexsort([table["pos"].to_numpy()])
    table, counts = table.iloc[order].reset_index(drop=True), counts[:, order]
    halves = [np.arange(len(table)) < len(table) // 2, np.arange(len(table)) >= len(table) // 2]
    stores = []
    for k, part in enumerate(halves):
        # Every other record of the store is not usable (QC): the reader maps records to store rows.
        n_rows = 2 * part.sum()
        gt = np.full((n_rows, len(samples), 2), 0, dtype=np.int8)
        c = counts[:, part].T  # (records, samples)
        gt[1::2, :, 0] = np.where(c < 0, -1, (c >= 1).astype(np.int8))
        gt[1::2, :, 1] = np.where(c < 0, -1, (c == 2).astype(np.int8))
        root = zarr.open_group(str(tmp_path / f"c{k}.zarr"), mode="w")
        root.create_dataset("calldata/GT", data=gt, chunks=(7, len(samples), 2))
        root.create_dataset("samples", data=samples["sample"].to_numpy(dtype=object), object_codec=VLenUTF8())
        stores.append((zarr.open_group(str(tmp_path / f"c{k}.zarr"), mode="r"), np.arange(1, n_rows, 2)))

    class Counting(ContigRecords):
        def columns(self, records):
            self.asked = np.asarray(records)
            return super().columns(records)

    reader = Counting(stores, samples["sample"][::-1].tolist())  # the stores' columns in another order
    reversed_samples = samples.iloc[::-1].reset_index(drop=True)
    assert reader.shape == (len(samples), len(table))
    np.testing.assert_array_equal(reader.columns(np.arange(len(table))), counts[::-1])
    args = (variants, None, table, reversed_samples, 0.5, "exact", "new")
    got = predict_new_cohort(model, meta, *args[:1], reader, *args[2:])
    want = predict_new_cohort(model, meta, *args[:1], counts[::-1].copy(), *args[2:])
    assert sorted(table.iloc[reader.asked]["pos"]) == sorted(variants["pos"])  # model variants only
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])
    assert got[2] == want[2]
