"""Benchmark: ancestry classification on real 1000 Genomes data (12 populations, 5 super-populations).

Every model is evaluated on the same stratified folds (the pipeline's rule classification_folds:
``classification.n_folds`` folds, seeded by ``--seed``) with out-of-fold predictions for every sample:

* ``cae_classifier``  the pipeline's classifier on the CAE encoder (popcen.classification) with the
                      config's ``classification`` settings, on the CAE that the pipeline's rule train_cae
                      trains under the config's ``training`` and ``representation`` sections, once on all
                      samples (it sees the test folds' genotypes, never their labels; the validation split
                      is stratified by pop);
* ``lightgbm``        popcen.explain's LightGBM multiclass on the alt-allele counts (``--lgb-rounds``);
* ``lr_all_snvs``     logistic regression on all standardised SNVs, C = 0.001 (the reference baseline);
* ``lr_pca20``        logistic regression on PCA(20) of the standardised SNVs (PCA fitted per fold).

Data: the feature set the pipeline's own rules build (popcen.pipeline.genotypes: vcf_to_zarr, variant_qc,
ld_prune, assemble_features), with QC that keeps every bi-allelic SNV of chr1..22 (duplicate positions and
monomorphic sites dropped; no call-rate or frequency filter) and no LD pruning, samples of the panel; cached
under ``--out``. Missing calls take the variant's mean (popcen.features.mean_impute). Macro F1 and MCC at pop and
at super_pop level (each model is trained on pop labels; super_pop is derived from the pop probabilities).

Settings: a pipeline config (``--configfile``, config/1kg.yaml unless given, over config/config.yaml;
validated as the Snakefile does; benchmarks/_config.py). To try a setting, change a key, e.g.
``--set classification.hidden=128 --set classification.fine_tune=true``; the CAE is cached in the output
folder per (training, representation) sections. The flags choose the data, the output folder, the models,
the seeds of the repeat (``--seed``: the folds, ``classification.fold_seed``; ``--classifier-seed``:
``classification.seed``) and the folds to run.

Usage::

    .venv/bin/python benchmarks/classification.py [--data ../shared/data/1kg_phase3_subset]
        [--models cae_classifier,lightgbm,lr_all_snvs,lr_pca20] [--out benchmarks/out/classification]
        [--configfile config/1kg.yaml] [--set section.key=value ...] [--only-fold K]

``--only-fold K`` trains and scores one fold only, for quick comparisons, and keeps its test probabilities
(``<model><tag>.fold<K>.proba.npy``); ``--from-fold-files`` then scores the folds' files together as one
out-of-fold run (folds trained as separate processes, one after the other or side by side). Single
classifier seeds of a nonlinear head differ by about 0.01 pooled and 0.03 per fold, so compare such
settings over seeds; a linear head reaches the same optimum from every seed. Time on 2 shared cores: ~2 min
a fold for the linear head on RESULTS.md's depth-2 CAE, ~21 s for lr_all_snvs; a CAE not yet cached adds its
training (~11 min for that CAE).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _config import (  # noqa: E402
    add_config_arguments,
    classification_folds_params,
    classifier_params,
    config_from_args,
    train_cae_params,
)

from popcen.classification.cv import evaluate_with_coarse, out_of_fold_proba  # noqa: E402
from popcen.classification.metrics import summary_metrics  # noqa: E402
from popcen.classification.tables import fold_numbers  # noqa: E402
from popcen.features import mean_impute, read_features  # noqa: E402
from popcen.io import read_table  # noqa: E402
from popcen.pipeline import call, genotypes  # noqa: E402

log = logging.getLogger("popcen")
PANEL = "integrated_call_samples_v3.20130502.ALL.panel"
LABEL_COLUMNS = ["pop", "super_pop"]
CONTIGS = [f"chr{c}" for c in range(1, 23)]
# variant_qc keeping every polymorphic bi-allelic SNV; ld_prune keeping every variant (a window of one variant
# compares no pair)
ALL_SNVS = {"min_call_rate": 0.0, "min_mac": 1, "min_maf": 0.0}
NO_PRUNING = {"window": 1, "step": 1, "r2": 1.0, "iterations": 1, "fraction": 1.0, "seed": 1}


def feature_set(data: Path, work: Path) -> dict[str, Path]:
    """The 1000 Genomes subset's feature set (``genotypes``, ``variants``, ``samples``), built once by the
    pipeline's rule functions, one contig at a time, as Snakemake runs them."""
    features = {
        name: work / "features" / f"{name}.{ext}"
        for name, ext in (("genotypes", "zarr"), ("variants", "tsv"), ("samples", "tsv"))
    }
    if features["variants"].exists():
        return features
    qc = {"alt_counts": [], "kept": [], "samples": []}
    for contig in CONTIGS:
        store = work / "zarr" / f"{contig}.zarr"
        call(
            genotypes.vcf_to_zarr,
            input={"vcf": data / f"{contig}.vcf.gz"},
            output={"zarr": store},
            params={"region": None},
        )
        out = {
            "variants": work / "qc" / f"{contig}.variants.tsv.gz",
            "samples": work / "qc" / f"{contig}.samples.tsv",
            "alt_counts": work / "qc" / f"{contig}.alt_counts.zarr",
        }
        call(
            genotypes.variant_qc,
            input={"zarr": store, "panel": data / PANEL},
            output=out,
            params={"label_columns": LABEL_COLUMNS, "populations": None, **ALL_SNVS},
        )
        kept = work / "ld" / f"{contig}.kept.tsv"
        call(
            genotypes.ld_prune,
            input=out,
            output={"kept": kept},
            params=NO_PRUNING,
            wildcards={"contig": contig},
        )
        for name, path in (("alt_counts", out["alt_counts"]), ("kept", kept), ("samples", out["samples"])):
            qc[name].append(path)
    call(genotypes.assemble_features, input=qc, output=features, params={"label_columns": LABEL_COLUMNS})
    return features


def folds_of(features: dict[str, Path], samples: pd.DataFrame, config: dict, out: Path) -> np.ndarray:
    """The fold of every sample, from the pipeline's rule classification_folds (stratified by pop)."""
    from popcen.pipeline.classification import classification_folds

    params = classification_folds_params(config, "pop")
    path = out / f"folds_k{params['n_folds']}_seed{params['seed']}.tsv"
    call(classification_folds, input={"samples": features["samples"]}, output={"folds": path}, params=params)
    return fold_numbers(read_table(path), samples, path)


def logistic_fit_predict(x, y, c, pca=None):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit_predict(train, test, fold):
        steps = [StandardScaler()]
        if pca:
            steps.append(PCA(n_components=pca, random_state=fold))
        model = make_pipeline(*steps, LogisticRegression(C=c, max_iter=2000))
        model.fit(x[train], y[train])
        return model.predict_proba(x[test])

    return fit_predict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "1kg_phase3_subset")
    parser.add_argument("--models", default="cae_classifier,lightgbm,lr_all_snvs,lr_pca20")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "classification")
    add_config_arguments(parser)
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the folds: classification.fold_seed (default: the config's)",
    )
    parser.add_argument(
        "--classifier-seed",
        type=int,
        default=None,
        help="seed of the CAE classifier's training (weights, inner split, noise, batches): "
        "classification.seed (default: the config's)",
    )
    parser.add_argument(
        "--only-fold",
        type=int,
        default=None,
        help="quick check: train and score on this one fold only (pop level)",
    )
    parser.add_argument("--lgb-rounds", type=int, default=100, help="LightGBM boosting rounds")
    parser.add_argument("--tag", default="", help="suffix of the per-fold probability files (--only-fold)")
    parser.add_argument(
        "--from-fold-files",
        action="store_true",
        help="score the probabilities the --only-fold runs of every fold left (same --tag)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: the machine's 2 cores are shared; more threads spin)",
    )
    args = parser.parse_args(argv)
    seeds = {"classification.fold_seed": args.seed, "classification.seed": args.classifier_seed}
    config = config_from_args(args, *(f"{key}={value}" for key, value in seeds.items() if value is not None))
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)

    features = feature_set(args.data, args.out)
    gn, _, samples = read_features(**features)
    log.info("%d samples x %d bi-allelic SNVs, %d populations", *gn.shape, samples["pop"].nunique())
    labels = sorted(samples["pop"].unique())
    y = np.searchsorted(labels, samples["pop"].to_numpy())
    folds = folds_of(features, samples, config, args.out)
    x = mean_impute(gn)

    runners = {
        "lr_all_snvs": lambda: logistic_fit_predict(x, y, 0.001),
        "lr_pca20": lambda: logistic_fit_predict(x, y, 1.0, pca=20),
        "lightgbm": lambda: lightgbm_fit_predict(gn, y, len(labels), args.lgb_rounds),
        "cae_classifier": lambda: cae_fit_predict(features, gn, y, samples, len(labels), config, args),
    }
    rows = []
    for name in args.models.split(","):
        t0 = time.perf_counter()
        if args.only_fold is not None:
            test = np.flatnonzero(folds == args.only_fold)
            fold_proba = runners[name]()(np.flatnonzero(folds != args.only_fold), test, args.only_fold)
            np.save(fold_file(args, name, args.only_fold), fold_proba)
            scores = summary_metrics(y[test], fold_proba.argmax(1), range(len(labels)))
            log.info(
                "%s fold %d: pop macro F1 %.3f MCC %.3f (%.0f s)",
                name,
                args.only_fold,
                scores["f1"],
                scores["mcc"],
                time.perf_counter() - t0,
            )
            continue
        if args.from_fold_files:
            proba = assemble_folds(args, name, folds, len(labels))
            seconds = float("nan")
        else:
            proba = out_of_fold_proba(runners[name](), folds, len(labels), desc=name)
            seconds = time.perf_counter() - t0
        np.save(args.out / f"{name}.proba.npy", proba)
        res = evaluate_with_coarse(samples, proba, labels, folds, "pop", "super_pop")
        row = {"model": name, "seconds": round(seconds, 1)}
        for level in ("pop", "super_pop"):
            row[f"{level}_macro_f1"] = res[level]["summary"]["f1"]
            row[f"{level}_mcc"] = res[level]["summary"]["mcc"]
        row["super_pop_f1_from_pop_argmax"] = res["super_pop"]["summary_from_fine_argmax"]["f1"]
        rows.append(row)
        log.info("%s", json.dumps(row))
    if not rows:
        return
    table = pd.DataFrame(rows)
    md = table.to_markdown(index=False, floatfmt=".3f") if _has_tabulate() else table.to_string(index=False)
    (args.out / "results.md").write_text(md + "\n")
    print(md)


def fold_file(args, name: str, fold: int) -> Path:
    """Where ``--only-fold`` leaves one fold's test probabilities (tagged by ``--tag``)."""
    return args.out / f"{name}{args.tag}.fold{fold}.proba.npy"


def assemble_folds(args, name: str, folds: np.ndarray, n_classes: int) -> np.ndarray:
    """Out-of-fold probabilities put together from the ``--only-fold`` runs of every fold (folds run as
    separate processes, e.g. side by side)."""
    proba = np.full((len(folds), n_classes), np.nan)
    for k in range(int(folds.max()) + 1):
        path = fold_file(args, name, k)
        if not path.exists():
            raise SystemExit(f"{path}: missing; run --only-fold {k} --tag '{args.tag}' first")
        proba[folds == k] = np.load(path)
    return proba


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401

        return True
    except ImportError:
        return False


def lightgbm_fit_predict(gn, y, n_classes, rounds):
    from popcen.explain import as_float, make_lightgbm

    x = as_float(gn)

    def fit_predict(train, test, fold):
        model = make_lightgbm(
            n_classes,
            {"n_estimators": rounds, "learning_rate": 0.1, "colsample_bytree": 0.3},
            seed=1,
            n_jobs=1,
        ).fit(x[train], y[train])  # 2 OpenMP threads: 3x slower on 2 shared cores
        return model.predict_proba(x[test])

    return fit_predict


def pretrain_cae(features: dict[str, Path], config: dict, args) -> dict[str, Path]:
    """The pipeline's rule train_cae (popcen.pipeline.representation) on the feature set, without labels
    but for the stratified validation split; cached in the output folder under a hash of the config's
    ``training`` and ``representation`` sections (same sections -> same weights). Returns its
    ``cae_weights`` and ``cae_json``, the classifier rules' inputs."""
    from popcen.pipeline.representation import train_cae

    recipe = {key: config[key] for key in ("training", "representation")}
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
    folder = args.out / f"cae_{digest}"
    cae = {"cae_weights": folder / "cae.pt", "cae_json": folder / "cae.json"}
    if not cae["cae_weights"].exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
        call(
            train_cae,
            input=features,
            threads=args.threads,
            output={
                "weights": cae["cae_weights"],
                "config": cae["cae_json"],
                "latent": folder / "latent.tsv",
                "losses": folder / "cae_losses.tsv",
            },
            params=train_cae_params(config, LABEL_COLUMNS, folder / "checkpoint"),
        )
    log.info("CAE %s (%s)", folder, json.dumps(recipe))
    return cae


def cae_fit_predict(features, gn, y, samples, n_classes, config, args):
    """The pipeline's classifier (popcen.classification.train) with the config's ``classification``
    settings, as rules train_classifier and evaluate_classifier read them; per fold a random search of
    ``classification.n_trials`` draws on an inner validation split of the fold's training samples."""
    from popcen.classification.model import cae_images
    from popcen.classification.train import (
        TrainSettings,
        frozen_features,
        train_with_search,
        with_coarse_loss,
    )
    from popcen.classification.train import predict_proba as classifier_proba
    from popcen.representation import load_cae

    paths = pretrain_cae(features, config, args)
    cae, cae_meta = load_cae(paths["cae_weights"], paths["cae_json"])
    images, _ = cae_images(gn, cae_meta, cae.config.to_dict())
    params = classifier_params(config, LABEL_COLUMNS)
    settings = TrainSettings.from_config(params["training"], device=params["device"])
    settings = with_coarse_loss(settings, samples, "pop", "super_pop")
    cae_config, cae_state = cae.config.to_dict(), cae.state_dict()
    head_input = frozen_features(images, cae_config, cae_state, settings, n_classes)
    log.info(
        "CAE channels %s; head reads %s",
        cae.config.channels,
        "the fine-tuned encoder" if head_input is None else f"frozen features {head_input.shape}",
    )

    def fit_predict(train, test, fold):
        model, chosen, trials = train_with_search(
            images,
            y,
            n_classes,
            cae_config,
            cae_state,
            settings,
            train,
            desc=f"CAE classifier fold {fold}",
            features=head_input,
        )
        trials.to_csv(args.out / f"cae_trials_fold{fold}.tsv", sep="\t", index=False)
        return classifier_proba(model, images[test], settings.device)

    return fit_predict


if __name__ == "__main__":
    main()
