"""Benchmark: clustering real 1000 Genomes samples (1,126 samples, 12 populations, 5 super-populations).

Side by side in one run, on the same samples, scored against ``super_pop`` (K = 5) and ``pop`` (K = 12):

* ``cec``         the pipeline: genotype images -> CAE -> CEC, run by the rules' own functions
                  (popcen.pipeline.representation.train_cae, popcen.pipeline.clustering.train_cec)
* ``cae_<init>``  the clustering of the CAE latent space CEC's centroids start from (``clustering.init``)
* every baseline of rule cluster_baselines (k-means, Ward, GMM, DBSCAN, OPTICS on the latent space;
  PCA(20) + k-means and PCA(20) + Ward on the genotypes), from its metrics table
* the same PCA baselines on the variants the images hold (``*_image_variants``)
* ``fastmixture`` (ADMIXTURE reimplementation) at the same K on the same genotypes; cluster = argmax Q.

Data: every bi-allelic SNV of chr1..22 of ``1kg_phase3_subset`` (monomorphic and duplicate sites dropped,
missing calls -> the variant mean): the feature set the pipeline's rules build, via ``feature_set`` of
benchmarks/classification.py (one loader, one cache). As in the pipeline, the CAE is trained once,
its validation split stratified by ``pop``; CEC once per level, its split stratified by the level.

Settings: the CAE's and CEC's are those of a pipeline config (``--configfile``, config/1kg.yaml unless given,
over config/config.yaml; validated as the Snakefile does), passed to the rules' functions as their rules
pass them (benchmarks/_config.py). To try a setting, change a key: ``--set clustering.alpha=1.0``,
``--set clustering.levels={}``, ``--set training.max_epochs=2``. ``--seed`` sets ``training.seed`` (the CAE,
CEC and the baselines); the flags choose the data, the output folder, the levels and the threads.

Usage::

    .venv/bin/python benchmarks/clustering.py [--data ../shared/data/1kg_phase3_subset] [--out benchmarks/out/clustering]
        [--configfile config/1kg.yaml] [--set section.key=value ...] [--seed 1] [--levels super_pop,pop]
    # one run per seed, then mean ± sd per method over them:
    .venv/bin/python benchmarks/clustering.py --summarize benchmarks/out/clustering_s1 benchmarks/out/clustering_s2 ...
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
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
    cluster_baselines_params,
    config_from_args,
    train_cae_params,
    train_cec_params,
)
from classification import LABEL_COLUMNS, feature_set  # noqa: E402

from popcen.clustering.baselines import BaselineResult, run_baselines  # noqa: E402
from popcen.clustering.metrics import score_methods  # noqa: E402
from popcen.features import read_features  # noqa: E402
from popcen.images import scale_genotypes  # noqa: E402
from popcen.io import read_json, read_table  # noqa: E402
from popcen.pipeline import call  # noqa: E402
from popcen.pipeline import clustering as clustering_rules  # noqa: E402
from popcen.pipeline import representation as representation_rules  # noqa: E402

log = logging.getLogger("popcen")


def write_plink(gn: np.ndarray, samples: pd.DataFrame, variants: pd.DataFrame, prefix: Path) -> None:
    """PLINK 1 binary fileset (SNP-major .bed) of a (samples, variants) alt-count matrix, -1 = missing.

    A1 (.bim column 5) is the alt allele, so the 2-bit codes are: 2 alt -> 00, 1 -> 10, 0 -> 11, missing -> 01.
    """
    n, m = gn.shape
    code = (
        np.select([gn == 2, gn == 1, gn == 0], [0b00, 0b10, 0b11], default=0b01).astype(np.uint8).T
    )  # (m, n)
    pad = (-n) % 4
    code = np.pad(code, ((0, 0), (0, pad)), constant_values=0b01).reshape(m, -1, 4)
    packed = code[:, :, 0] | (code[:, :, 1] << 2) | (code[:, :, 2] << 4) | (code[:, :, 3] << 6)
    with open(f"{prefix}.bed", "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        fh.write(packed.astype(np.uint8).tobytes())
    bim = pd.DataFrame(
        {
            "chrom": variants["chrom"],
            "id": [f"v{i}" for i in range(m)],
            "cm": 0,
            "pos": variants["pos"],
            "a1": variants["alt"],
            "a2": variants["ref"],
        }
    )
    bim.to_csv(f"{prefix}.bim", sep="\t", header=False, index=False)
    fam = pd.DataFrame(
        {"fid": samples["sample"], "iid": samples["sample"], "p": 0, "m": 0, "sex": 0, "ph": -9}
    )
    fam.to_csv(f"{prefix}.fam", sep=" ", header=False, index=False)


def run_fastmixture(prefix: Path, k: int, seed: int, threads: int) -> tuple[np.ndarray, float]:
    """Cluster = argmax of fastmixture's Q at K; returns (labels, seconds)."""
    out = prefix.parent / f"fastmixture_K{k}"
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).with_name("fastmixture")),
            "--bfile",
            str(prefix),
            "--K",
            str(k),
            "--threads",
            str(threads),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    q = np.loadtxt(next(prefix.parent.glob(f"{out.name}.K{k}.s{seed}.Q")))
    return q.argmax(axis=1), seconds


def summarize_runs(runs: list[Path]) -> str:
    """Mean ± sd over runs (e.g. one per ``--seed``) of every method's ARI and NMI, from their results.tsv.

    The verdict line compares CEC's mean with the best other method's mean and states the gap against the
    run-to-run spread (sd), so a gap smaller than the spread reads as such.
    """
    table = pd.concat([pd.read_csv(r / "results.tsv", sep="\t").assign(run=r.name) for r in runs])
    md = [f"Runs: {', '.join(r.name for r in runs)}", ""]
    for level, part in table.groupby("level", sort=False):
        stats = part.groupby("method", sort=False)[["ARI", "NMI"]].agg(["mean", "std", "count"])
        md += [
            f"### {level} (K = {part['K'].iloc[0]}), mean ± sd over runs\n",
            "| method | ARI | NMI | runs | per run ARI |",
            "|---|---|---|---|---|",
        ]
        for method, r in stats.iterrows():
            per_run = " / ".join(f"{a:.3f}" for a in part.loc[part["method"] == method, "ARI"])
            md.append(
                f"| {method} | {r[('ARI', 'mean')]:.3f} ± {r[('ARI', 'std')]:.3f} | "
                f"{r[('NMI', 'mean')]:.3f} ± {r[('NMI', 'std')]:.3f} | {int(r[('ARI', 'count')])} | {per_run} |"
            )
        for metric in ("ARI", "NMI"):
            means = stats[(metric, "mean")]
            best = means.drop("cec").idxmax()
            md.append(
                f"- CEC {metric} {means['cec']:.3f} ± {stats.loc['cec', (metric, 'std')]:.3f} vs best other by mean "
                f"({best}) {means[best]:.3f} ± {stats.loc[best, (metric, 'std')]:.3f}: {means['cec'] - means[best]:+.3f}"
            )
        md.append("")
    return "\n".join(md) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "1kg_phase3_subset")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "clustering")
    add_config_arguments(ap)
    ap.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of this repeat: training.seed (CAE, CEC, baselines), also fastmixture's "
        "(default: the config's)",
    )
    ap.add_argument("--threads", type=int, default=2, help="torch and fastmixture threads")
    ap.add_argument("--levels", default="super_pop,pop", help="label levels to cluster (K = their labels)")
    ap.add_argument("--skip-fastmixture", action="store_true")
    ap.add_argument(
        "--summarize",
        type=Path,
        nargs="+",
        metavar="OUT",
        help="only summarise earlier runs' --out folders (e.g. one per --seed): mean ± sd per method",
    )
    args = ap.parse_args()
    if args.summarize:
        print(summarize_runs(args.summarize))
        return
    config = config_from_args(args, *([f"training.seed={args.seed}"] if args.seed is not None else []))
    seed = config["training"]["seed"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    features = feature_set(args.data, ROOT / "benchmarks" / "out" / "classification")
    gn, variants, samples = read_features(**features)
    log.info("loaded %d samples x %d SNVs in %.1fs", *gn.shape, time.perf_counter() - t0)

    cae = {
        "weights": args.out / "cae.pt",
        "config": args.out / "cae.json",
        "latent": args.out / "latent.tsv",
        "losses": args.out / "cae_losses.tsv",
    }
    call(
        representation_rules.train_cae,
        input=features,
        output=cae,
        params=train_cae_params(config, LABEL_COLUMNS, args.out / "ckpt_cae"),
        threads=args.threads,
    )
    cae_meta = read_json(cae["config"])
    kept = np.asarray(cae_meta["variant_index"])
    latent = read_table(cae["latent"]).drop(columns="sample").to_numpy(dtype=np.float32)
    log.info(
        "CAE: images %dx%d from %d variants, %d epochs in %.0fs, best val loss %.5f",
        cae_meta["cae"]["side"],
        cae_meta["cae"]["side"],
        len(kept),
        cae_meta["epochs_run"],
        cae_meta["seconds"],
        read_table(cae["losses"])["val_loss"].min(),
    )

    if not args.skip_fastmixture:
        write_plink(gn, samples, variants, args.out / "1kg")
    genotypes = scale_genotypes(gn)

    tables = []
    for level in args.levels.split(","):
        truth = samples[level].to_numpy()
        k = len(np.unique(truth))
        cec = {
            "weights": args.out / f"cec_{level}.pt",
            "config": args.out / f"cec_{level}.json",
            "assignments": args.out / f"cec_{level}_assignments.tsv",
            "losses": args.out / f"cec_{level}_losses.tsv",
        }
        call(
            clustering_rules.train_cec,
            input={**features, "cae_weights": cae["weights"], "cae_json": cae["config"]},
            output=cec,
            params=train_cec_params(config, level, args.out / f"ckpt_cec_{level}"),
            wildcards={"level": level},
            threads=args.threads,
        )
        baselines = {
            "metrics": args.out / f"metrics_{level}.tsv",
            "assignments": args.out / f"baseline_assignments_{level}.tsv",
        }
        call(
            clustering_rules.cluster_baselines,
            input={
                **features,
                "latent": cae["latent"],
                "cae_json": cae["config"],
                "assignments": cec["assignments"],
                "cec_json": cec["config"],
            },
            output=baselines,
            params=cluster_baselines_params(config),
            wildcards={"level": level},
            threads=args.threads,
        )
        # The same PCA baselines on the variants the images hold (the highest-variance ones): what the CAE
        # sees, so that a CEC gain is not only the gain of the variance filter.
        extra = [
            BaselineResult(f"{r.method}_image_variants", "image variants", r.labels, r.seconds, r.note)
            for r in run_baselines(
                latent, genotypes[:, kept], k, seed=seed, methods=["pca_kmeans", "pca_ward"]
            )
        ]
        if not args.skip_fastmixture:
            labels, seconds = run_fastmixture(args.out / "1kg", k, seed, args.threads)
            extra.append(BaselineResult("fastmixture", "genotypes", labels, seconds, "argmax Q"))
        metrics = read_table(baselines["metrics"]).fillna({"note": ""})
        part = pd.concat([metrics, score_methods(truth, extra, level)])
        for row in part.itertuples():
            log.info("%s %s: ARI %.3f NMI %.3f ACC %.3f", level, row.method, row.ARI, row.NMI, row.ACC)
        tables.append(part)
        assignments = read_table(cec["assignments"])
        np.save(args.out / f"cec_{level}_q.npy", assignments[[f"q{j}" for j in range(k)]].to_numpy())

    table = pd.concat(tables, ignore_index=True).rename(columns={"k": "K"})
    table.to_csv(args.out / "results.tsv", sep="\t", index=False, float_format="%.4f")
    side = cae_meta["cae"]["side"]
    settings = {key: config[key] for key in ("training", "representation", "clustering", "device")}
    md = [
        f"Data: {gn.shape[0]} samples, {gn.shape[1]} SNVs; images {side}x{side} "
        f"({len(kept)} highest-variance SNVs); CAE {cae_meta['epochs_run']} epochs ({cae_meta['stop_reason']}), "
        f"latent {config['representation']['latent_dim']}; "
        f"arguments {json.dumps(vars(args), default=str)}; config {json.dumps(settings)}",
        "",
    ]
    for level, part in table.groupby("level", sort=False):
        cec = part[part["method"] == "cec"].iloc[0]
        md.append(f"### {level} (K = {part['K'].iloc[0]})\n")
        md.append(
            "| method | space | ARI | NMI | ACC | homogeneity | completeness | clusters | seconds | note |"
        )
        md.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in part.itertuples():
            md.append(
                f"| {r.method} | {r.space} | {r.ARI:.3f} | {r.NMI:.3f} | {r.ACC:.3f} | {r.homogeneity:.3f} | "
                f"{r.completeness:.3f} | {r.clusters_found} | {r.seconds:.1f} | {r.note} |"
            )
        others = part[part["method"] != "cec"]
        for metric in ("ARI", "NMI"):
            best = others.loc[others[metric].idxmax()]
            md.append(
                f"- CEC {metric} {cec[metric]:.3f} vs best other method by {metric} ({best['method']}) "
                f"{best[metric]:.3f}: {cec[metric] - best[metric]:+.3f}"
            )
        md.append("")
    (args.out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
