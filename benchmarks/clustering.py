"""Benchmark: clustering real 1000 Genomes samples (1,126 samples, 12 populations, 5 super-populations).

Side by side in one run, on the same samples, scored against ``super_pop`` (K = 5) and ``pop`` (K = 12):

* ``cec``         the pipeline: genotype images -> CAE -> CEC, run by the rules' own functions
                  (popcen.pipeline.representation.train_cae, popcen.pipeline.clustering.train_cec)
* ``cae_<init>``  the clustering of the CAE latent space CEC's centroids start from (``--init``)
* every baseline of rule cluster_baselines (k-means, Ward, GMM, DBSCAN, OPTICS on the latent space;
  PCA(20) + k-means and PCA(20) + Ward on the genotypes), from its metrics table
* the same PCA baselines on the variants the images hold (``*_image_variants``)
* ``fastmixture`` (ADMIXTURE reimplementation) at the same K on the same genotypes; cluster = argmax Q.

Data: every bi-allelic SNV of chr1..22 of ``1kg_phase3_subset`` (monomorphic and duplicate sites dropped,
missing calls -> the variant mean): the feature set the pipeline's rules build, via ``feature_set`` of
benchmarks/classification.py (one loader, one cache). As in the pipeline, the CAE is trained once,
its validation split stratified by ``pop``; CEC once per level, its split stratified by the level.

Usage::

    .venv/bin/python benchmarks/clustering.py [--data ../shared/data/1kg_phase3_subset] [--out benchmarks/out/clustering]
        [--max-variants 10000] [--latent-dim 16] [--cae-epochs 40] [--cec-epochs 30] [--sigma 0.9] ...
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

from classification import feature_set  # noqa: E402

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
    ap.add_argument("--max-variants", type=int, default=4096)
    ap.add_argument("--latent-dim", type=int, default=20)
    ap.add_argument("--base-channels", type=int, default=8)
    ap.add_argument("--max-channels", type=int, default=64)
    ap.add_argument("--max-depth", type=int, default=1)
    ap.add_argument(
        "--dropout",
        type=float,
        default=0.3,
        help="CAE dropout on the flattened encoder output (0.3: better latent clustering, RESULTS.md)",
    )
    ap.add_argument(
        "--pca-init",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="CAE with a linear path started at the PCA of the training split (representation.pca_init; "
        "on by default since the fifth round, RESULTS.md)",
    )
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument(
        "--lr-schedule",
        default="constant",
        choices=["constant", "cosine"],
        help="the CAE's learning-rate schedule (CEC always runs at a constant --cec-lr)",
    )
    ap.add_argument(
        "--cec-lr",
        type=float,
        default=3e-5,
        help="CEC learning rate (3e-5: CEC loses less of its start, sixth round in RESULTS.md)",
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--cae-epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--cec-epochs", type=int, default=15)
    ap.add_argument("--sigma", type=float, default=0.9)
    ap.add_argument(
        "--alpha",
        type=float,
        default=5.0,
        help="degrees of freedom of CEC's Student t (5: closer to the Gaussian mixture it starts from; "
        "CEC keeps its super_pop start, seventh round)",
    )
    ap.add_argument(
        "--init", default="gmm", choices=["kmeans", "gmm", "ward"], help="CEC's starting clusters"
    )
    ap.add_argument(
        "--kernel",
        default="full",
        choices=["isotropic", "diagonal", "full"],
        help="CEC's Student-t kernel: DEC's isotropic one, or a learnable precision per cluster",
    )
    ap.add_argument(
        "--freeze-batchnorm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="CAE batch-norm layers in eval mode during CEC",
    )
    ap.add_argument(
        "--level-overrides",
        type=json.loads,
        default={"pop": {"init": "kmeans", "kernel": "isotropic", "alpha": 1.0, "training": {"lr": 1e-4}}},
        metavar="JSON",
        help="clustering.levels as in the config: per level, CEC keys over the flags above (default: pop "
        "runs DEC: k-means start, isotropic kernel, alpha 1, lr 1e-4; seventh round in RESULTS.md; '{}': none)",
    )
    ap.add_argument("--update-interval", type=int, default=20)
    ap.add_argument("--tol", type=float, default=0.001)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch and fastmixture threads")
    ap.add_argument("--device", default="cpu", help="the rules' device key: cpu, cuda or auto")
    ap.add_argument("--levels", default="super_pop,pop")
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    features = feature_set(args.data, ROOT / "benchmarks" / "out" / "classification")
    gn, variants, samples = read_features(**features)
    log.info("loaded %d samples x %d SNVs in %.1fs", *gn.shape, time.perf_counter() - t0)

    settings = {
        "optimizer": args.optimizer,
        "lr": args.lr,
        "weight_decay": 0.0,
        "lr_schedule": args.lr_schedule,
        "batch_size": args.batch_size,
        "max_epochs": args.cae_epochs,
        "patience": args.patience,
        "val_fraction": args.val_fraction,
        "seed": args.seed,
        "amp": True,
    }
    representation = {
        "max_variants": args.max_variants,
        "latent_dim": args.latent_dim,
        "base_channels": args.base_channels,
        "max_channels": args.max_channels,
        "max_depth": args.max_depth,
        "dropout": args.dropout,
        "pca_init": args.pca_init,
    }
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
        params={
            "training": settings,
            "representation": representation,
            "label_columns": ["pop", "super_pop"],
            "device": args.device,
            "checkpoint_dir": args.out / "ckpt_cae",
        },
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

    cec_training = {"max_epochs": args.cec_epochs, "lr": args.cec_lr, "lr_schedule": "constant"}
    clustering = {
        "sigma": args.sigma,
        "alpha": args.alpha,
        "update_interval": args.update_interval,
        "tol": args.tol,
        "kmeans_n_init": 20,
        "init": args.init,
        "freeze_batchnorm": args.freeze_batchnorm,
        "kernel": args.kernel,
        "training": cec_training,
        "levels": args.level_overrides,
    }
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
            params={
                "training": settings,
                "clustering": clustering,
                "device": args.device,
                "checkpoint_dir": args.out / f"ckpt_cec_{level}",
            },
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
            params={"min_samples": 5, "pca_components": 20, "seed": args.seed},
            wildcards={"level": level},
            threads=args.threads,
        )
        # The same PCA baselines on the variants the images hold (the highest-variance ones): what the CAE
        # sees, so that a CEC gain is not only the gain of the variance filter.
        extra = [
            BaselineResult(f"{r.method}_image_variants", "image variants", r.labels, r.seconds, r.note)
            for r in run_baselines(
                latent, genotypes[:, kept], k, seed=args.seed, methods=["pca_kmeans", "pca_ward"]
            )
        ]
        if not args.skip_fastmixture:
            labels, seconds = run_fastmixture(args.out / "1kg", k, args.seed, args.threads)
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
    md = [
        f"Data: {gn.shape[0]} samples, {gn.shape[1]} SNVs; images {side}x{side} "
        f"({len(kept)} highest-variance SNVs); CAE {cae_meta['epochs_run']} epochs ({cae_meta['stop_reason']}), "
        f"latent {args.latent_dim}; settings {json.dumps(vars(args), default=str)}",
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
