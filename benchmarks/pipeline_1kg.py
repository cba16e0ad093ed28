"""Benchmark: the science targets of issue 16 on real 1000 Genomes data, measured by running the pipeline
itself (``snakemake`` on ``config/1kg.yaml`` in a scratch folder), with its peers on the same data in the
same run.

Data: ``--data`` (``../shared/data/1kg_phase3_subset``: per-contig VCFs ``chr{contig}.vcf.gz`` and the
phase 3 panel), one cohort ``kg`` with label columns pop and super_pop, contigs ``--contigs`` (default
1-22).

1. **The genotype stage, once** (``<out>/base``): Snakemake runs vcf_to_zarr, variant_qc, ld_prune,
   assemble_features and classification_folds there (``--allowed-rules`` names only these) under the base
   config (``--configfile``/``--set``, no arm). It is the cache: a rerun of the benchmark asks Snakemake
   again, which reruns only what changed (contigs, QC or pruning keys, code).
2. **Per arm and seed, the cohort-wide rules** in a working folder of their own (``<out>/work/<arm>_s<seed>``,
   emptied first): ``results/kg/features`` is a link to the base's feature store and
   ``classification/folds.tsv`` a copy of its folds (the same folds everywhere), and ``--allowed-rules``
   names only train_cae, train_cec, cluster_baselines and evaluate_classifier, so nothing upstream can run
   (Snakemake would stop with "missing input"). Targets: ``clustering/{pop,super_pop}/metrics.tsv`` (CEC's
   row and every baseline's, rule cluster_baselines) and ``classification/cv/{pop,super_pop}/metrics.tsv``
   (rule evaluate_classifier). ``--set-threads`` gives every rule all ``--cores``, so the jobs run one at a
   time and each one's time (its ``benchmark:`` TSV) is its own. An arm is a config overlay (``--arm
   NAME:key=value,key=value``; default ``default``: the config as is, the sequence CAE over every variant,
   and ``image``: ``representation.architecture=image,representation.max_variants=4096,``
   ``representation.max_depth=1``, the paper's images); a seed
   sets ``training.seed`` (CAE, CEC, the baselines' k-means) and ``classification.seed`` (the classifier),
   never ``classification.fold_seed``. An arm may not change what the shared stage used (qc, ld_prune, the
   folds' keys). Named arms run only when ``--arms`` names them: ``transductive`` and ``inductive`` set
   ``classification.cv_representation`` (issue 18: the CV's classifiers read the cohort's CAE, or one CAE
   per fold trained on the fold's training samples). ``--targets classification`` asks for the
   classification targets only (train_cae and evaluate_classifier run; no clustering, no fastmixture).
3. **The peers, on the base's feature store and folds**: logistic regression (benchmarks/classification.py's
   ``logistic_fit_predict``: StandardScaler, C = 0.001, on ``mean_impute``'d genotypes of every feature
   variant), pooled out-of-fold macro F1 and MCC at pop and the super_pop F1 of its pop predictions, scored
   with popcen's own ``evaluate_with_coarse``; it is deterministic, so it runs once. fastmixture
   (benchmarks/clustering.py's ``run_fastmixture``) at K = the number of populations with ``--threads`` =
   ``--cores``, once per seed (its ``--seed``), timed, scored against pop.

Targets (the summary): the classifier's mean pop F1 and MCC over seeds >= logistic regression's minus the
classifier's seed sd (logistic regression has no seed; 0 with one seed); CEC's mean ARI over seeds > the mean
ARI of the best baseline method (best by mean over seeds; CEC's own starting clusters, the ``cae_*`` rows,
are not baselines) at both levels; and, measured, not a target: the time ratio (train_cae + train_cec at
both levels, mean over seeds) / fastmixture's mean time.

Usage::

    .venv/bin/python benchmarks/pipeline_1kg.py [--seeds 1,2,3] [--arm NAME:key=value,...] [--arms a,b]
        [--contigs 1-22] [--cores 2] [--configfile config/1kg.yaml] [--set KEY=VALUE]
        [--out benchmarks/out/pipeline_1kg] [--tabulate-only]

    # transductive vs inductive CV (issue 18), classification only:
    nice -n 10 .venv/bin/python benchmarks/pipeline_1kg.py --arms transductive,inductive --seeds 1 \
        --targets classification

    # smoke test (~7 min on 2 busy cores):
    .venv/bin/python benchmarks/pipeline_1kg.py --seeds 1 --contigs 21,22 --set training.max_epochs=1 \\
        --set classification.max_epochs=1 --set clustering.training.max_epochs=1 --out /tmp/p1kg

Writes, under ``--out``: ``runs/<arm>_s<seed>.json`` per run, ``runs/lr.json``,
``runs/fastmixture_s<seed>.json`` and ``runs/base.json`` (``--tabulate-only`` rebuilds the tables from
them, for the arms and seeds of its arguments), ``pipeline_1kg.tsv`` (one row per arm and seed) and
``pipeline_1kg.md`` (printed; the issue-16 tables from the runs with clustering, and a transductive vs
inductive CV table when an inductive run is among them), the Snakemake logs under ``logs/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _config import add_config_arguments, load_config, parse_override  # noqa: E402
from _snakebench import ROOT, collect_benchmarks, run_snakemake  # noqa: E402
from classification import logistic_fit_predict  # noqa: E402
from clustering import run_fastmixture, write_plink  # noqa: E402

from popcen.classification.cv import evaluate_with_coarse, out_of_fold_proba  # noqa: E402
from popcen.classification.tables import fold_numbers  # noqa: E402
from popcen.clustering.metrics import score_clustering  # noqa: E402
from popcen.features import mean_impute, read_features  # noqa: E402
from popcen.io import read_json, read_table, write_json  # noqa: E402

log = logging.getLogger("popcen")

COHORT = "kg"
LEVELS = ["pop", "super_pop"]  # fine, coarse
PANEL = "integrated_call_samples_v3.20130502.ALL.panel"
LR_C = 0.001  # issue 16's reference: logistic regression's C
DEFAULT_ARMS = {
    # the schema defaults: the sequence CAE over every LD-pruned variant (docs/representation.md)
    "default": [],
    # the paper's genotype images, capped at 4,096 variants, as measured before the sequence CAE was the default
    "image": [
        "representation.architecture=image",
        "representation.max_variants=4096",
        "representation.max_depth=1",
    ],
}
# Arms run only when --arms names them.
NAMED_ARMS = {
    "transductive": ["classification.cv_representation=transductive"],
    "inductive": ["classification.cv_representation=inductive"],
}
BASE_RULES = ["vcf_to_zarr", "variant_qc", "ld_prune", "assemble_features", "classification_folds"]
RUN_RULES = ["train_cae", "train_cec", "cluster_baselines", "evaluate_classifier"]
RESULTS = f"results/{COHORT}"
RUN_TARGETS = [
    f"{RESULTS}/{kind}/{level}/metrics.tsv"
    for kind in ("clustering", "classification/cv")
    for level in LEVELS
]
# --targets classification: the CV only (an inductive CV does not need train_cae, a transductive one does)
CLASSIFICATION_RULES = ["train_cae", "evaluate_classifier"]
CLASSIFICATION_TARGETS = [f"{RESULTS}/classification/cv/{level}/metrics.tsv" for level in LEVELS]


# ------------------------------------------------------------------------------------------ arguments


def parse_arm(text: str) -> tuple[str, list[str]]:
    """``'seq:representation.architecture=sequence,representation.patch=1'`` -> ('seq', [two overrides]).
    Commas split only before a ``key=``, so a YAML list value ``[1,2]`` stays whole."""
    name, sep, body = text.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME:key=value,key=value (NAME: letters, digits, _.-)"
        )
    overrides = [part.strip() for part in re.split(r",(?=\s*[\w.]+=)", body) if part.strip()]
    for item in overrides:
        parse_override(item)  # a malformed item stops here, before anything runs
    return name, overrides


def int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers") from None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "1kg_phase3_subset")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "pipeline_1kg")
    add_config_arguments(p)
    p.add_argument(
        "--arm",
        type=parse_arm,
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="add an arm, or replace the default arm of that name (default, image); 'NAME:' = the config "
        "as is (repeatable)",
    )
    p.add_argument(
        "--arms",
        default=None,
        help="comma-separated arms to run (default: default, image and every --arm); also the named arms "
        f"{', '.join(NAMED_ARMS)}",
    )
    p.add_argument(
        "--targets",
        choices=["all", "classification"],
        default="all",
        help="all: clustering and classification (issue 16); classification: the CV's metrics only, no "
        "clustering and no fastmixture",
    )
    p.add_argument("--seeds", type=int_list, default=[1, 2, 3], help="training.seed and classification.seed")
    p.add_argument("--contigs", default="1-22", help="the cohort sheet's contigs (default 1-22), e.g. 21,22")
    p.add_argument(
        "--cores", type=int, default=2, help="Snakemake --cores, every rule's threads, fastmixture's"
    )
    p.add_argument("--tabulate-only", action="store_true", help="run nothing: tables from <out>/runs/")
    args = p.parse_args(argv)
    args.arm_overrides = {**DEFAULT_ARMS, **dict(args.arm)}
    if args.arms is not None:
        known = {**DEFAULT_ARMS, **NAMED_ARMS, **dict(args.arm)}
        names = [a.strip() for a in args.arms.split(",") if a.strip()]
        if unknown := [a for a in names if a not in known]:
            p.error(f"--arms: unknown {', '.join(unknown)}; defined: {', '.join(known)}")
        args.arm_overrides = {a: known[a] for a in names}
    if not args.seeds:
        p.error("--seeds: give at least one seed")
    if args.cores < 1:
        p.error("--cores must be >= 1")
    args.data, args.out = args.data.resolve(), args.out.resolve()
    return args


# ------------------------------------------------------------------------------------ working folders


def run_config(args, arm: str | None = None, seed: int | None = None) -> dict:
    """The config a folder runs with: config/config.yaml, ``--configfile`` (default config/1kg.yaml), ``--set``,
    then the arm's overrides and the seed's, validated with the schemas (defaults filled); its cohort sheet
    is the folder's ``config/cohorts.tsv``."""
    overrides = [*args.overrides, *(args.arm_overrides[arm] if arm else [])]
    if seed is not None:
        overrides += [f"training.seed={seed}", f"classification.seed={seed}"]
    config = load_config(args.configfile, overrides)
    config["cohorts"], config["results"] = "config/cohorts.tsv", "results"
    return config


def shared_keys(config: dict) -> dict:
    """What the shared stage (features and folds) depends on: an arm may not change it."""
    cls = config["classification"]
    return {"qc": config["qc"], "ld_prune": config["ld_prune"], "folds": [cls["n_folds"], cls["fold_seed"]]}


def make_work(work: Path, config: dict, args) -> None:
    """A Snakemake working folder: its config and a one-row cohort sheet (the 1000 Genomes subset)."""
    (work / "config").mkdir(parents=True, exist_ok=True)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sheet = pd.DataFrame(
        [
            {
                "name": COHORT,
                "vcf": str(args.data / "chr{contig}.vcf.gz"),
                "panel": str(args.data / PANEL),
                "contigs": args.contigs,
                "label_columns": ",".join(LEVELS),
                "populations": "all",
                "predict_with": "",
            }
        ]
    )
    sheet.to_csv(work / "config" / "cohorts.tsv", sep="\t", index=False)


def features_of(work: Path) -> dict[str, Path]:
    d = work / RESULTS / "features"
    return {"genotypes": d / "genotypes.zarr", "variants": d / "variants.tsv", "samples": d / "samples.tsv"}


def run_base(args, config: dict) -> dict:
    """The genotype stage and the folds in ``<out>/base`` (Snakemake reruns only what changed)."""
    base = args.out / "base"
    make_work(base, config, args)
    targets = [f"{RESULTS}/features/variants.tsv", f"{RESULTS}/classification/folds.tsv"]
    log.info("genotype stage in %s", base)
    seconds = run_snakemake(
        base,
        ["--cores", args.cores, "--allowed-rules", *BASE_RULES, "--", *targets],
        args.out / "logs" / "base.log",
    )
    samples = read_table(features_of(base)["samples"])
    bench = collect_benchmarks(base)
    facts = {
        "snakemake_s": seconds,
        "contigs": args.contigs,
        "samples": len(samples),
        "variants": len(read_table(features_of(base)["variants"], usecols=["chrom"])),
        "populations": int(samples["pop"].nunique()),
        "super_populations": int(samples["super_pop"].nunique()),
        # job seconds of the genotype stage when it last ran (the cache keeps them)
        "genotype_stage_job_s": float(bench.loc[bench["rule"].isin(BASE_RULES), "s"].sum()),
    }
    log.info(
        "features: %d samples x %d variants, %d populations",
        *[facts[k] for k in ("samples", "variants", "populations")],
    )
    return facts


def run_arm(args, arm: str, seed: int) -> dict:
    """One arm and seed: the cohort-wide rules by Snakemake on the shared features and folds; its results."""
    name = f"{arm}_s{seed}"
    work = args.out / "work" / name
    shutil.rmtree(work, ignore_errors=True)  # a fresh measurement
    config = run_config(args, arm, seed)
    make_work(work, config, args)
    results = work / RESULTS
    (results / "classification").mkdir(parents=True)
    (results / "features").symlink_to(args.out / "base" / RESULTS / "features", target_is_directory=True)
    shutil.copy2(args.out / "base" / RESULTS / "classification" / "folds.tsv", results / "classification")
    rules, targets = (
        (CLASSIFICATION_RULES, CLASSIFICATION_TARGETS)
        if args.targets == "classification"
        else (RUN_RULES, RUN_TARGETS)
    )
    cmd = [
        "--cores",
        args.cores,
        "--allowed-rules",
        *rules,
        "--set-threads",
        *[f"{r}={args.cores}" for r in rules],
        "--",
        *targets,
    ]
    log.info("%s: snakemake in %s", name, work)
    record = {
        "arm": arm,
        "seed": seed,
        "overrides": args.arm_overrides[arm],
        "set": args.overrides,
        "targets": args.targets,
        "cv_representation": config["classification"]["cv_representation"],
    }
    try:
        record["snakemake_s"] = run_snakemake(work, cmd, args.out / "logs" / f"{name}.log")
    except SystemExit as error:  # one failed run is a result; the others still run
        log.error("%s failed: %s", name, str(error).splitlines()[0])
        return {**record, "status": "failed"}
    record.update(status="ok", **read_run(work))
    log.info("%s: done in %.0f s", name, record["snakemake_s"])
    return record


def read_run(work: Path) -> dict:
    """The numbers of one run folder: every clustering row (absent with ``--targets classification``), the
    classifier's CV scores, the rules' times, the cohort's CAE (absent from an inductive CV of classification
    alone) and the fold CAEs of an inductive CV."""
    results = work / RESULTS
    record = {}
    if all((results / "clustering" / level / "metrics.tsv").exists() for level in LEVELS):
        record["clustering"] = {
            level: read_table(results / "clustering" / level / "metrics.tsv")[
                ["method", "ARI", "NMI"]
            ].to_dict("records")
            for level in LEVELS
        }
    cls = {}
    for level in LEVELS:
        m = read_table(results / "classification" / "cv" / level / "metrics.tsv")
        for row in m.itertuples():
            cls[f"{row.level}:{row.model}.{row.metric}"] = float(row.value)
    bench = collect_benchmarks(work)
    # per rule, and per level where a rule runs per level (benchmarks/<rule>/<level>.tsv)
    times = {
        (r.rule if Path(r.file).parent.name == "benchmarks" else f"{r.rule}.{Path(r.file).stem}"): r.s
        for r in bench.itertuples()
    }
    record |= {"classification": cls, "times": times}
    if (results / "representation" / "cae.json").exists():
        cae = read_json(results / "representation" / "cae.json")
        record["cae"] = {
            "variants": len(cae["variant_index"]),
            "epochs": cae["epochs_run"],
            "architecture": cae["cae"].get("architecture", "image"),
        }
    cv = {}
    for level in LEVELS:
        path = results / "classification" / "cv" / level / "representation.json"
        if path.exists():
            cv[level] = read_json(path)
    if cv:
        record["cv_representation_detail"] = cv
    return record


# ------------------------------------------------------------------------------------------- the peers


def run_peers(args) -> None:
    """Logistic regression once and fastmixture once per seed, on the base's feature store and folds."""
    base = args.out / "base"
    gn, variants, samples = read_features(**features_of(base))
    folds_path = base / RESULTS / "classification" / "folds.tsv"
    folds = fold_numbers(read_table(folds_path), samples, folds_path)

    labels = sorted(samples["pop"].unique())
    y = np.searchsorted(labels, samples["pop"].to_numpy())
    t0 = time.perf_counter()
    proba = out_of_fold_proba(logistic_fit_predict(mean_impute(gn), y, LR_C), folds, len(labels), desc="lr")
    seconds = time.perf_counter() - t0
    res = evaluate_with_coarse(samples, proba, labels, folds, "pop", "super_pop")
    lr = {
        "f1_pop": res["pop"]["summary"]["f1"],
        "mcc_pop": res["pop"]["summary"]["mcc"],
        "f1_super_pop_from_pop": res["super_pop"]["summary_from_fine_argmax"]["f1"],
        "seconds": seconds,
        "C": LR_C,
        "variants": gn.shape[1],
    }
    write_json(lr, args.out / "runs" / "lr.json")
    log.info("logistic regression: pop F1 %.3f MCC %.3f (%.0f s)", lr["f1_pop"], lr["mcc_pop"], seconds)
    if args.targets == "classification":
        return  # fastmixture is a clustering peer

    prefix = base / "plink" / COHORT
    prefix.parent.mkdir(exist_ok=True)
    write_plink(gn, samples, variants, prefix)
    k = len(labels)
    for seed in args.seeds:
        pred, seconds = run_fastmixture(prefix, k, seed, args.cores)
        scores = score_clustering(samples["pop"].to_numpy(), pred)
        # fastmixture stops at its 1,000 EM iterations without converging at K = 12 on this subset
        # (benchmarks/RESULTS.md, ## clustering): its time is then that cap's.
        fm_log = prefix.parent / f"fastmixture_K{k}.K{k}.s{seed}.log"
        fm = {
            "seed": seed,
            "K": k,
            "seconds": seconds,
            "ARI_pop": scores["ARI"],
            "NMI_pop": scores["NMI"],
            "converged": "did not converge" not in fm_log.read_text(),
        }
        write_json(fm, args.out / "runs" / f"fastmixture_s{seed}.json")
        log.info("fastmixture K=%d seed %d: ARI %.3f (%.0f s)", k, seed, fm["ARI_pop"], seconds)


# ------------------------------------------------------------------------------------------- the tables


def is_baseline(method: str) -> bool:
    """A cluster_baselines row other than CEC and CEC's own starting clusters (cae_<init>)."""
    return method != "cec" and not method.startswith("cae_")


def run_row(run: dict, lr: dict, fm: dict | None) -> dict:
    """One arm and seed as one table row (``fm``: fastmixture's run of that seed, None if missing)."""
    fm = fm or {"ARI_pop": np.nan, "NMI_pop": np.nan, "seconds": np.nan}
    row = {
        "arm": run["arm"],
        "seed": run["seed"],
        "status": run["status"],
        # runs from before issue 18 ran the one CV there was
        "cv_representation": run.get("cv_representation", "transductive"),
        # the arm's overrides but the CV mode: the runs an inductive one is compared with
        "other_overrides": ",".join(
            o for o in run["overrides"] if not o.startswith("classification.cv_representation=")
        ),
    }
    if run["status"] != "ok":
        return row
    for level in LEVELS:
        if "clustering" not in run:  # --targets classification
            break
        t = pd.DataFrame(run["clustering"][level])
        cec = t[t["method"] == "cec"].iloc[0]
        best = t[t["method"].map(is_baseline)].sort_values("ARI", ascending=False).iloc[0]
        row |= {
            f"cec_ari_{level}": cec.ARI,
            f"cec_nmi_{level}": cec.NMI,
            f"best_baseline_{level}": best.method,
            f"best_baseline_ari_{level}": best.ARI,
        }
    c, t = run["classification"], run["times"]
    cae_cec = t.get("train_cae", np.nan) + sum(t.get(f"train_cec.{level}", np.nan) for level in LEVELS)
    cae = run.get("cae", {"variants": np.nan, "epochs": np.nan})
    return row | {
        "cls_f1_pop": c.get("pop:cae_classifier.f1", np.nan),
        "cls_mcc_pop": c.get("pop:cae_classifier.mcc", np.nan),
        "cls_f1_super_pop": c.get("super_pop:cae_classifier.f1", np.nan),
        "cls_mcc_super_pop": c.get("super_pop:cae_classifier.mcc", np.nan),
        "cls_f1_super_pop_from_pop": c.get("super_pop:cae_classifier_from_pop.f1", np.nan),
        "cls_mcc_super_pop_from_pop": c.get("super_pop:cae_classifier_from_pop.mcc", np.nan),
        "lr_f1_pop": lr["f1_pop"],
        "lr_mcc_pop": lr["mcc_pop"],
        "lr_f1_super_pop_from_pop": lr["f1_super_pop_from_pop"],
        "fastmixture_ari_pop": fm["ARI_pop"],
        "fastmixture_nmi_pop": fm["NMI_pop"],
        "train_cae_s": t.get("train_cae", np.nan),
        **{f"train_cec_{level}_s": t.get(f"train_cec.{level}", np.nan) for level in LEVELS},
        **{
            f"evaluate_classifier_{level}_s": t.get(f"evaluate_classifier.{level}", np.nan)
            for level in LEVELS
        },
        "cae_cec_s": cae_cec,
        "fastmixture_s": fm["seconds"],
        "time_ratio": cae_cec / fm["seconds"],
        "cae_variants": cae["variants"],
        "cae_epochs": cae["epochs"],
        "snakemake_s": run["snakemake_s"],
    }


def fmt(value, spec: str = ".3f") -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)


def mean_sd(values: pd.Series, spec: str = ".3f") -> str:
    values = values.dropna()
    if values.empty:
        return "–"
    if len(values) == 1:
        return fmt(float(values.iloc[0]), spec)
    return f"{values.mean():{spec}} ± {values.std():{spec}}"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":--"] + ["--:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def best_by_mean(runs: list[dict], level: str) -> tuple[str, float, float]:
    """The baseline method with the highest mean ARI over the runs (one arm's seeds): (name, mean, sd)."""
    t = pd.DataFrame([r | {"seed": run["seed"]} for run in runs for r in run["clustering"][level]])
    stats = t[t["method"].map(is_baseline)].groupby("method")["ARI"].agg(["mean", "std"])
    best = stats["mean"].idxmax()
    return best, float(stats.loc[best, "mean"]), float(stats.loc[best, "std"])


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def targets(arm: str, part: pd.DataFrame, runs: list[dict], lr: dict) -> list[str]:
    """One arm's row of the targets table."""
    cells = [arm, str(len(part))]
    for metric, ref in (("cls_f1_pop", lr["f1_pop"]), ("cls_mcc_pop", lr["mcc_pop"])):
        mean = part[metric].mean()
        # the seed spread: the classifier's sd over seeds (logistic regression has no seed); 0 with one seed
        sd = part[metric].std() if len(part) > 1 else 0.0
        cells.append(f"{verdict(mean >= ref - sd)}: {mean:.3f} vs {ref:.3f} − {sd:.3f}")
    for level in LEVELS:
        name, best, _ = best_by_mean(runs, level)
        mean = part[f"cec_ari_{level}"].mean()
        cells.append(f"{verdict(mean > best)}: {mean:.3f} vs {best:.3f} ({name})")
    ratio = part["cae_cec_s"].mean() / part["fastmixture_s"].mean()
    cells.append(
        f"{fmt(ratio, '.1f')} ({fmt(part['cae_cec_s'].mean(), '.0f')} s / {fmt(part['fastmixture_s'].mean(), '.0f')} s)"
    )
    return cells


def markdown(table: pd.DataFrame, runs: dict[str, list[dict]], base: dict, lr: dict, fms: list[dict]) -> str:
    """The tables of the runs: issue 16's from the arms whose runs clustered, and the transductive vs
    inductive CV comparison (:func:`cv_lines`) when an inductive run is among them."""
    clustered = {arm: rs for arm, rs in runs.items() if all("clustering" in r for r in rs)}
    lines = header_lines(runs, base, lr, fms)
    if clustered:
        lines += issue16_lines(table[table["arm"].isin(list(clustered))], clustered, lr)
    lines += cv_lines(table)
    return "\n".join(lines) + "\n"


def header_lines(runs: dict[str, list[dict]], base: dict, lr: dict, fms: list[dict]) -> list[str]:
    sets = ", ".join(f"`--set {o}`" for o in base["set"])
    lines = [
        f"Commit `{base['commit']}`, {base['date']} UTC, {base['machine']}, `--cores {base['cores']}`. "
        f"Data: {base['data']}, contigs {base['contigs']}: {base['samples']:,} samples × {base['variants']:,} "
        f"variants after QC and LD pruning (the feature store), {base['populations']} populations, "
        f"{base['super_populations']} super-populations; the pipeline's {base['n_folds']}-fold CV folds "
        f"(fold_seed {base['fold_seed']}). Config: {', '.join(base['configfile'])}"
        f"{' with ' + sets if sets else ''}. Every rule run by `snakemake`: the genotype stage once "
        f"({base['genotype_stage_job_s']:.0f} job-seconds when it last ran), shared by all runs; the "
        "cohort-wide rules of each run one job at a time with all cores.",
        "",
        "Arms (config overlays): "
        + "; ".join(
            f"**{arm}**: {', '.join(f'`{o}`' for o in rs[0]['overrides']) or 'the config as is'}"
            for arm, rs in runs.items()
        )
        + ". Seeds: `training.seed` = `classification.seed` = the seed.",
        "",
        f"Logistic regression (C = {lr['C']}, standardised, mean-imputed, all {lr['variants']:,} feature "
        f"variants, the same folds; deterministic, one run): pop macro F1 {lr['f1_pop']:.3f}, MCC "
        f"{lr['mcc_pop']:.3f}, super_pop F1 of its pop predictions {lr['f1_super_pop_from_pop']:.3f} "
        f"({lr['seconds']:.0f} s)."
        + (
            f" fastmixture at K = {base['populations']} on the same genotypes, per seed: "
            + ", ".join(
                f"s{f['seed']} {f['seconds']:.0f} s{'' if f['converged'] else ' (not converged in 1,000 EM iterations)'}, "
                f"ARI {f['ARI_pop']:.3f}, NMI {f['NMI_pop']:.3f}"
                for f in fms
            )
            + "."
            if fms
            else ""
        ),
    ]
    return lines


def issue16_lines(table: pd.DataFrame, runs: dict[str, list[dict]], lr: dict) -> list[str]:
    lines = [
        "",
        "### Targets (issue 16)",
        "",
    ]
    ok = table[table["status"] == "ok"]
    lines += md_table(
        [
            "arm",
            "seeds",
            "classifier pop F1 ≥ LR − sd",
            "classifier pop MCC ≥ LR − sd",
            "CEC ARI > best baseline, pop",
            "CEC ARI > best baseline, super_pop",
            "(CAE + CEC) / fastmixture time",
        ],
        [targets(arm, part, runs[arm], lr) for arm, part in ok.groupby("arm", sort=False)],
    )
    lines += [
        "",
        "Rules: the classifier's mean over seeds against logistic regression minus the classifier's sd over "
        "seeds (its seed spread; logistic regression has none; 0 with one seed). CEC's mean ARI over seeds "
        "against the baseline method of rule cluster_baselines with the highest mean ARI (CEC's starting "
        "clusters, `cae_*`, excluded). Time: train_cae + train_cec at both levels (their `benchmark:` TSVs), "
        "mean over seeds, over fastmixture's mean wall time at K = the populations (a measurement, not a "
        "target).",
        "",
        "### Mean ± sd over seeds",
        "",
    ]
    rows = []
    for arm, part in ok.groupby("arm", sort=False):
        row = [arm]
        for level in LEVELS:
            name, best, sd = best_by_mean(runs[arm], level)
            row += [
                mean_sd(part[f"cec_ari_{level}"]),
                mean_sd(part[f"cec_nmi_{level}"]),
                f"{name} {best:.3f}" + (f" ± {sd:.3f}" if sd == sd else ""),
            ]
        row += [
            mean_sd(part[c])
            for c in ("cls_f1_pop", "cls_mcc_pop", "cls_f1_super_pop", "cls_f1_super_pop_from_pop")
        ]
        row += [
            mean_sd(part[c], ".0f")
            for c in (
                "train_cae_s",
                "train_cec_pop_s",
                "train_cec_super_pop_s",
                "evaluate_classifier_pop_s",
                "evaluate_classifier_super_pop_s",
                "fastmixture_s",
            )
        ]
        rows.append(row)
    lines += md_table(
        [
            "arm",
            "CEC ARI pop",
            "CEC NMI pop",
            "best baseline pop (ARI)",
            "CEC ARI super_pop",
            "CEC NMI super_pop",
            "best baseline super_pop (ARI)",
            "classifier F1 pop",
            "MCC pop",
            "F1 super_pop",
            "F1 super_pop from pop",
            "train_cae s",
            "train_cec s pop",
            "train_cec s super_pop",
            "evaluate_classifier s pop",
            "evaluate_classifier s super_pop",
            "fastmixture s",
        ],
        rows,
    )
    lines += [
        "",
        "F1 super_pop: the classifier trained on super_pop; from pop: the super_pop of its pop predictions "
        "(as logistic regression's). Seconds: wall time of each job from its `benchmark:` TSV.",
        "",
        "### Per run",
        "",
    ]
    rows = []
    for r in table.itertuples():
        if r.status != "ok":
            rows.append([r.arm, r.seed, r.status] + ["–"] * 12)
            continue
        rows.append(
            [
                r.arm,
                r.seed,
                f"{r.cae_variants:,} / {r.cae_epochs}",
                fmt(r.cec_ari_pop),
                f"{r.best_baseline_pop} {r.best_baseline_ari_pop:.3f}",
                fmt(r.cec_ari_super_pop),
                f"{r.best_baseline_super_pop} {r.best_baseline_ari_super_pop:.3f}",
                fmt(r.cls_f1_pop),
                fmt(r.cls_mcc_pop),
                fmt(r.cls_f1_super_pop_from_pop),
                fmt(r.train_cae_s, ".0f"),
                fmt(r.train_cec_pop_s + r.train_cec_super_pop_s, ".0f"),
                fmt(r.evaluate_classifier_pop_s + r.evaluate_classifier_super_pop_s, ".0f"),
                fmt(r.fastmixture_s, ".0f"),
                fmt(r.time_ratio, ".1f"),
            ]
        )
    lines += md_table(
        [
            "arm",
            "seed",
            "CAE variants / epochs",
            "CEC ARI pop",
            "best baseline pop",
            "CEC ARI super_pop",
            "best baseline super_pop",
            "classifier F1 pop",
            "MCC pop",
            "F1 super_pop from pop",
            "train_cae s",
            "train_cec s (both)",
            "evaluate_classifier s (both)",
            "fastmixture s",
            "time ratio",
        ],
        rows,
    )
    return lines


CV_METRICS = [
    ("cls_f1_pop", "F1 pop"),
    ("cls_mcc_pop", "MCC pop"),
    ("cls_f1_super_pop", "F1 super_pop"),
    ("cls_mcc_super_pop", "MCC super_pop"),
    ("cls_f1_super_pop_from_pop", "F1 super_pop from pop"),
    ("cls_mcc_super_pop_from_pop", "MCC super_pop from pop"),
]


def cv_lines(table: pd.DataFrame) -> list[str]:
    """Issue 18: each run's CV scores with its ``classification.cv_representation``, and inductive minus
    transductive for every pair of runs of the same seed whose arms differ in that key only."""
    ok = table[table["status"] == "ok"]
    if not (ok["cv_representation"] == "inductive").any():
        return []
    lines = ["", "### Transductive vs inductive CV (issue 18)", ""]
    rows = [
        [r.arm, r.seed, r.cv_representation]
        + [fmt(getattr(r, c)) for c, _ in CV_METRICS]
        + [
            fmt(getattr(r, c), ".0f")
            for c in ("evaluate_classifier_pop_s", "evaluate_classifier_super_pop_s")
        ]
        + [fmt(r.train_cae_s, ".0f") if r.cv_representation == "transductive" else "–"]
        for r in ok.itertuples()
    ]
    for mode, part in ok.groupby("cv_representation", sort=False):
        if part["seed"].nunique() > 1:
            rows.append(
                ["mean ± sd", f"{part['seed'].nunique()} seeds", mode]
                + [mean_sd(part[c]) for c, _ in CV_METRICS]
                + ["", "", ""]
            )
    lines += md_table(
        ["arm", "seed", "CV"]
        + [name for _, name in CV_METRICS]
        + ["evaluate_classifier s pop", "evaluate_classifier s super_pop", "train_cae s"],
        rows,
    )
    rows, diffs = [], []
    for ind in ok[ok["cv_representation"] == "inductive"].itertuples():
        same = ok[
            (ok["cv_representation"] == "transductive")
            & (ok["seed"] == ind.seed)
            & (ok["other_overrides"] == ind.other_overrides)
        ]
        for tr in same.itertuples():
            diffs.append({c: getattr(ind, c) - getattr(tr, c) for c, _ in CV_METRICS})
            rows.append(
                [f"{ind.arm} − {tr.arm}", ind.seed] + [fmt(diffs[-1][c], "+.3f") for c, _ in CV_METRICS]
            )
    if len(diffs) > 1:
        d = pd.DataFrame(diffs)
        rows.append(
            ["mean ± sd", f"{len(d)} pairs"]
            + [f"{d[c].mean():+.3f} ± {d[c].std():.3f}" for c, _ in CV_METRICS]
        )
    lines += ["", "Inductive minus transductive, same seed and config but the CV mode:", ""]
    lines += md_table(["runs", "seed"] + [name for _, name in CV_METRICS], rows)
    lines += [
        "",
        "transductive: every fold's classifier reads the cohort's CAE (rule train_cae: variants chosen and "
        "weights fitted on all samples, test folds included, no labels). inductive: each fold trains its own "
        "CAE on its training samples (variants, imputation, PCA start, weights), inside evaluate_classifier, "
        "at each level. F1 and MCC macro over the out-of-fold predictions; from pop: the super_pop of the "
        "pop classifier's predictions. Seconds: the jobs' `benchmark:` TSVs.",
    ]
    return lines


def tabulate(args) -> str:
    """The tables of the saved runs of the arms and seeds of ``args``."""
    runs_dir = args.out / "runs"
    base, lr = read_json(runs_dir / "base.json"), read_json(runs_dir / "lr.json")
    fms = {}
    for seed in args.seeds:
        path = runs_dir / f"fastmixture_s{seed}.json"
        if path.exists():
            fms[seed] = read_json(path)
        else:
            log.warning("no fastmixture run of seed %d under %s", seed, runs_dir)
    runs, rows = {}, []
    for arm in args.arm_overrides:
        for seed in args.seeds:
            path = runs_dir / f"{arm}_s{seed}.json"
            if not path.exists():
                log.warning("no run %s_s%d under %s", arm, seed, runs_dir)
                continue
            run = read_json(path)
            rows.append(run_row(run, lr, fms.get(seed)))
            if run["status"] == "ok":
                runs.setdefault(arm, []).append(run)
    if not rows:
        raise SystemExit(f"nothing to tabulate under {runs_dir}")
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "pipeline_1kg.tsv", sep="\t", index=False, float_format="%.4f")
    md = markdown(table, runs, base, lr, list(fms.values()))
    (args.out / "pipeline_1kg.md").write_text(md)
    return md


def git_commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    (args.out / "runs").mkdir(parents=True, exist_ok=True)
    if not args.tabulate_only:
        base_config = run_config(args)
        for arm in args.arm_overrides:
            if shared_keys(run_config(args, arm, args.seeds[0])) != shared_keys(base_config):
                raise SystemExit(f"arm {arm}: changes qc, ld_prune or the folds, which all arms share")
        facts = run_base(args, base_config)
        cls = base_config["classification"]
        write_json(
            {
                **facts,
                "data": str(args.data),
                "n_folds": cls["n_folds"],
                "fold_seed": cls["fold_seed"],
                "configfile": [str(p) for p in (args.configfile or [])] or ["config/1kg.yaml"],
                "set": args.overrides,
                "cores": args.cores,
                "machine": f"{platform.node()}, {os.cpu_count()} CPUs",
                "commit": git_commit(),
                "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            },
            args.out / "runs" / "base.json",
        )
        run_peers(args)
        for seed in args.seeds:
            for arm in args.arm_overrides:
                write_json(run_arm(args, arm, seed), args.out / "runs" / f"{arm}_s{seed}.json")
    print(tabulate(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
