"""Benchmark: ancestry classification on real 1000 Genomes data (12 populations, 5 super-populations).

Every model is evaluated on the same stratified 5 folds (the pipeline's rule classification_folds, seed 0)
with out-of-fold predictions for every sample:

* ``cae_classifier``  the pipeline's classifier on the CAE encoder (popcen.classification.model), the CAE
                      pre-trained once by the pipeline's rule train_cae on all samples (it sees the test folds'
                      genotypes, never their labels; the validation split is stratified by pop, as in the pipeline);
* ``lightgbm``        popcen.explain's LightGBM multiclass on the alt-allele counts;
* ``lr_all_snvs``     logistic regression on all standardised SNVs, C = 0.001 (the reference baseline);
* ``lr_pca20``        logistic regression on PCA(20) of the standardised SNVs (PCA fitted per fold).

Data: the feature set the pipeline's own rules build (popcen.pipeline.genotypes: vcf_to_zarr, variant_qc,
ld_prune, assemble_features), with QC that keeps every bi-allelic SNV of chr1..22 (duplicate positions and
monomorphic sites dropped; no call-rate or frequency filter) and no LD pruning, samples of the panel; cached
under ``--out``. Missing calls take the variant's mean (popcen.features.mean_impute). Macro F1 and MCC at pop and
at super_pop level (each model is trained on pop labels; super_pop is derived from the pop probabilities).

Usage::

    .venv/bin/python benchmarks/classification.py [--data ../shared/data/1kg_phase3_subset]
        [--models cae_classifier,lightgbm,lr_all_snvs,lr_pca20] [--out benchmarks/out/classification]
        [--fine-tune] [--refit] [--encoder-blocks 1] [--cae-max-depth 2] [--only-fold K]

The CAE classifier's best settings so far (benchmarks/RESULTS.md, ## classification, seventh round):
``--refit`` with the defaults, which are config/1kg.yaml's: a depth-2 CAE, frozen; a linear head on its first
conv block before its max-pool, trained to the optimum of class-weighted logistic regression at C = 0.001
(Adam lr 1e-4, L2 1.1, cosine decay over 60 epochs, no early stopping). The earlier 128-unit head, fine-tuned
with a super_pop loss (sixth round), is spelt out where the defaults are set. ``--only-fold K`` trains and
scores one fold only, for quick comparisons, and keeps its test probabilities
(``<model><tag>.fold<K>.proba.npy``); ``--from-fold-files`` then scores the five folds' files together as
one out-of-fold run (folds trained as separate processes, one after the other or side by side).
``--classifier-seed S`` seeds the classifier's training (``--seed`` seeds the folds); ``--ensemble N`` trains
the seed ensemble of ``classification.ensemble`` (seeds S .. S + N - 1, N x the time). Single seeds of the same
setting differ by about 0.01 pooled, 0.03 per fold (RESULTS.md, sixth round): compare settings over seeds (the
linear head's are alike). Measured here (two processes side by side, load ~2): ~2 min a fold for the linear head
(60 epochs on the inner split, 60 more for the refit), ~5 min a fold for the fine-tuned 128-unit head at 15
epochs; ~21 s for lr_all_snvs; a depth-2 CAE not yet cached adds ~11 min.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

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


def folds_of(features: dict[str, Path], samples: pd.DataFrame, args) -> np.ndarray:
    """The fold of every sample, from the pipeline's rule classification_folds."""
    from popcen.pipeline.classification import classification_folds

    path = args.out / f"folds_k{args.folds}_seed{args.seed}.tsv"
    call(
        classification_folds,
        input={"samples": features["samples"]},
        output={"folds": path},
        params={"label_column": "pop", "n_folds": args.folds, "seed": args.seed},
    )
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
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds")
    parser.add_argument(
        "--classifier-seed",
        type=int,
        default=1,
        help="seed of the CAE classifier's training (weights, inner split, noise, batches)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cae-epochs", type=int, default=6)
    parser.add_argument("--cae-base-channels", type=int, default=8)
    parser.add_argument("--cae-latent", type=int, default=32)
    parser.add_argument(
        "--cae-max-depth",
        type=int,
        default=2,
        help="conv/pool levels of the CAE (the pipeline's representation.max_depth)",
    )
    parser.add_argument(
        "--cae-from-config",
        type=Path,
        default=None,
        metavar="YAML",
        help="pre-train the CAE that train_cae trains under config/config.yaml + this file "
        "(e.g. config/1kg.yaml: its variant cap, architecture, pca_init), instead of the "
        "--cae-* flags' CAE on all SNVs",
    )
    parser.add_argument("--encoder-output", default="conv", choices=["conv", "latent"])
    parser.add_argument(
        "--encoder-blocks",
        type=int,
        default=1,
        help="conv blocks of the CAE's encoder the head reads (classification.encoder_blocks)",
    )
    parser.add_argument(
        "--encoder-pool",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="apply the last tapped block's max-pool (default: no, the head reads the map "
        "before it, classification.encoder_pool false)",
    )
    parser.add_argument("--fine-tune", action="store_true", help="train the encoder with the head")
    parser.add_argument(
        "--encoder-lr-scale", type=float, default=0.1, help="fine-tuning: encoder lr = lr x this"
    )
    # Head defaults: config/1kg.yaml's linear head at logistic regression's L2 optimum (RESULTS.md, seventh
    # round); the earlier 128-unit head: --hidden 128 --noise-std 1 --dropout 0.5 --optimizer adagrad
    # --lr 0.0003 --lr-schedule constant --weight-decay 0.001 --max-epochs 15 --patience 8 --coarse-weight 1
    parser.add_argument("--hidden", type=int, default=0, help="head's dense units (0 = linear head)")
    parser.add_argument("--noise-std", type=float, default=0.0)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--lr", type=float, default=0.0001)
    parser.add_argument(
        "--lr-schedule", choices=["constant", "cosine"], default="cosine", help="classification.lr_schedule"
    )
    parser.add_argument(
        "--weight-decay", type=float, default=1.1, help="L2; 1.1 = 1 / (C n), C = 0.001, n ~ 900"
    )
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=0, help="0: no early stopping, all max-epochs")
    parser.add_argument(
        "--refit",
        action="store_true",
        help="retrain the chosen head on all of a fold's training samples (classification.refit)",
    )
    parser.add_argument(
        "--coarse-weight",
        type=float,
        default=0.0,
        help="weight of an extra super_pop cross-entropy on the summed pop probabilities "
        "(TrainSettings.coarse_weight; 0 = off; 1: the 128-unit head's, RESULTS.md, fourth round)",
    )
    parser.add_argument(
        "--ensemble",
        type=int,
        default=1,
        help="members of a seed ensemble (classification.ensemble): seeds classifier-seed, +1, ...",
    )
    parser.add_argument(
        "--only-fold",
        type=int,
        default=None,
        help="quick check: train and score on this one fold only (pop level)",
    )
    parser.add_argument("--lgb-rounds", type=int, default=100, help="LightGBM boosting rounds")
    parser.add_argument("--trials", type=int, default=0, help="random-search draws per fold (CAE classifier)")
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
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)

    features = feature_set(args.data, args.out)
    gn, _, samples = read_features(**features)
    log.info("%d samples x %d bi-allelic SNVs, %d populations", *gn.shape, samples["pop"].nunique())
    labels = sorted(samples["pop"].unique())
    y = np.searchsorted(labels, samples["pop"].to_numpy())
    folds = folds_of(features, samples, args)
    x = mean_impute(gn)

    runners = {
        "lr_all_snvs": lambda: logistic_fit_predict(x, y, 0.001),
        "lr_pca20": lambda: logistic_fit_predict(x, y, 1.0, pca=20),
        "lightgbm": lambda: lightgbm_fit_predict(gn, y, len(labels), args.lgb_rounds),
        "cae_classifier": lambda: cae_fit_predict(features, gn, y, samples, len(labels), args),
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


def merged_config(overrides: Path) -> dict:
    """config/config.yaml with ``overrides`` merged on top key by key, as ``snakemake --configfile`` does."""
    import yaml

    def merge(base: dict, top: dict) -> dict:
        out = dict(base)
        for key, value in top.items():
            out[key] = (
                merge(out[key], value)
                if isinstance(value, dict) and isinstance(out.get(key), dict)
                else value
            )
        return out

    from popcen.configcheck import validate_config

    config = merge(
        yaml.safe_load((ROOT / "config" / "config.yaml").read_text()),
        yaml.safe_load(overrides.read_text()) or {},
    )
    for section in ("training", "representation"):  # as rules/representation.smk: validated, defaults filled
        validate_config(config, ROOT / "config" / "schemas" / f"{section}.schema.yaml")
    return config


def cae_recipe(args) -> tuple[str, dict, dict]:
    """(cache tag, ``training`` section, ``representation`` section) of the CAE to pre-train: the benchmark's
    own (``--cae-*`` flags, all SNVs) or, with ``--cae-from-config``, the one the pipeline's train_cae rule
    trains under that config (its image size, architecture and training settings)."""
    if args.cae_from_config:
        config = merged_config(args.cae_from_config)
        return f"cae_{args.cae_from_config.stem}", config["training"], config["representation"]
    training = {
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "max_epochs": args.cae_epochs,
        "patience": 5,
        "seed": 1,
        "batch_size": 32,
        "val_fraction": 0.1,
        "amp": True,
    }
    representation = {
        "max_variants": None,
        "latent_dim": args.cae_latent,
        "base_channels": args.cae_base_channels,
        "max_channels": 128,
        "max_depth": args.cae_max_depth,
        "dropout": 0.0,
    }
    tag = f"cae_d{args.cae_max_depth}_b{args.cae_base_channels}_l{args.cae_latent}_e{args.cae_epochs}"
    return tag, training, representation


def pretrain_cae(features: dict[str, Path], args) -> dict[str, Path]:
    """The pipeline's rule train_cae (popcen.pipeline.representation) on the feature set, without labels
    but for the stratified validation split; cached in the output folder (same flags -> same weights).
    Returns its ``cae_weights`` and ``cae_json``, the classifier rules' inputs."""
    from popcen.pipeline.representation import train_cae

    tag, training, representation = cae_recipe(args)
    folder = args.out / tag
    cae = {"cae_weights": folder / "cae.pt", "cae_json": folder / "cae.json"}
    if not cae["cae_weights"].exists():
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
            params={
                "training": training,
                "representation": representation,
                "label_columns": LABEL_COLUMNS,
                "device": args.device,
                "checkpoint_dir": folder / "checkpoint",
            },
        )
    return cae


def cae_fit_predict(features, gn, y, samples, n_classes, args):
    """The pipeline's classifier (popcen.classification.train) on the frozen encoder of the CAE; per fold a
    random search of ``--trials`` draws on an inner validation split of the fold's training samples."""
    from popcen.classification.model import cae_images
    from popcen.classification.train import (
        TrainSettings,
        frozen_features,
        train_with_search,
        with_coarse_loss,
    )
    from popcen.classification.train import predict_proba as classifier_proba
    from popcen.representation import load_cae

    paths = pretrain_cae(features, args)
    cae, cae_meta = load_cae(paths["cae_weights"], paths["cae_json"])
    images, _ = cae_images(gn, cae_meta, cae.config.to_dict())
    # Head input standardised (TrainSettings.standardize, the default); the head's defaults are the
    # settings that scored best on fold 0 (see benchmarks/RESULTS.md).
    settings = TrainSettings(
        encoder_output=args.encoder_output,
        encoder_blocks=args.encoder_blocks,
        encoder_pool=args.encoder_pool,
        fine_tune=args.fine_tune,
        encoder_lr_scale=args.encoder_lr_scale,
        hidden=args.hidden,
        noise_std=args.noise_std,
        dropout=args.dropout,
        optimizer=args.optimizer,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        weight_decay=args.weight_decay,
        batch_size=32,
        max_epochs=args.max_epochs,
        patience=args.patience,
        val_fraction=0.15,
        seed=args.classifier_seed,
        device=args.device,
        n_trials=args.trials,
        refit=args.refit,
        coarse_weight=args.coarse_weight,
        ensemble=args.ensemble,
        search_space={
            "lr": [args.lr / 3, args.lr, args.lr * 3],
            "hidden": [0, 64, 128, 256],
            "dropout": [0.2, 0.5],
            "noise_std": [0.3, 1.0, 2.0],
            "weight_decay": [1e-4, 1e-3, 1e-2],
        },
    )
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
        return classifier_proba(model, images[test], args.device)

    return fit_predict


if __name__ == "__main__":
    main()
