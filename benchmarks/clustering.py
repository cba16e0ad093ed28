"""Benchmark: clustering real 1000 Genomes samples (1,126 samples, 12 populations, 5 super-populations).

Side by side in one run, on the same samples, scored against ``super_pop`` (K = 5) and ``pop`` (K = 12):

* ``cec``         the pipeline: genotype images -> CAE (popcen.representation) -> CEC (popcen.clustering.deep)
* ``cae_<init>``  the clustering of the CAE latent space CEC's centroids start from (``--init``)
* every baseline of popcen.clustering.baselines (k-means, Ward, GMM, DBSCAN, OPTICS on the latent space;
  PCA(20) + k-means and PCA(20) + Ward on the genotypes)
* ``fastmixture`` (ADMIXTURE reimplementation) at the same K on the same genotypes; cluster = argmax Q.

Data: every bi-allelic SNV of chr1..22 of ``1kg_phase3_subset`` (monomorphic and duplicate sites dropped,
missing calls -> the variant mean), via ``load_1kg`` of benchmarks/classification.py (one loader, one cache).
The CAE is trained once, without labels; CEC once per K.

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

from classification import load_1kg  # noqa: E402

from popcen.clustering.baselines import run_baselines  # noqa: E402
from popcen.clustering.deep import train_cec  # noqa: E402
from popcen.clustering.metrics import score_clustering  # noqa: E402
from popcen.clustering.stages import level_sections  # noqa: E402
from popcen.images import genotype_images, scale_genotypes  # noqa: E402
from popcen.representation import encode, train_cae  # noqa: E402

log = logging.getLogger("popcen")
LEVELS = {"super_pop": 5, "pop": 12}


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
    ap.add_argument("--cec-lr", type=float, default=3e-5,
                    help="CEC learning rate (3e-5: CEC loses less of its start, sixth round in RESULTS.md)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--cae-epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--cec-epochs", type=int, default=15)
    ap.add_argument("--sigma", type=float, default=0.9)
    ap.add_argument("--alpha", type=float, default=5.0,
                    help="degrees of freedom of CEC's Student t (5: closer to the Gaussian mixture it starts from; "
                    "CEC keeps its super_pop start, seventh round)")
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
    import torch

    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    gn, variants, samples = load_1kg(
        args.data, ROOT / "benchmarks" / "out" / "classification" / "1kg_snvs.npz"
    )
    log.info("loaded %d samples x %d SNVs in %.1fs", *gn.shape, time.perf_counter() - t0)
    genotypes = scale_genotypes(gn)
    images, kept = genotype_images(gn, args.max_variants)
    log.info("images %s from %d variants", images.shape, len(kept))

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
        "latent_dim": args.latent_dim,
        "base_channels": args.base_channels,
        "max_channels": args.max_channels,
        "max_depth": args.max_depth,
        "dropout": args.dropout,
        "pca_init": args.pca_init,
    }
    t0 = time.perf_counter()
    cae, cae_fit = train_cae(
        images,
        len(kept),
        settings,
        representation,
        device="cpu",
        loss_tsv=args.out / "cae_losses.tsv",
        checkpoint_dir=args.out / "ckpt_cae",
    )
    cae_seconds = time.perf_counter() - t0
    latent = encode(cae, images, device="cpu")
    log.info(
        "CAE: %d epochs in %.0fs, best val loss %.5f", cae_fit.epochs_run, cae_seconds, cae_fit.best_loss
    )

    if not args.skip_fastmixture:
        write_plink(gn, samples, variants, args.out / "1kg")

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
    rows = []
    for level in args.levels.split(","):
        k, truth = LEVELS[level], samples[level].to_numpy()
        cec_settings, cec_clustering = level_sections(settings, clustering, level)
        t0 = time.perf_counter()
        outcome = train_cec(
            cae,
            images,
            k,
            cec_settings,
            cec_clustering,
            device="cpu",
            loss_tsv=args.out / f"cec_{level}_losses.tsv",
            checkpoint_dir=args.out / f"ckpt_cec_{level}",
        )
        cec_seconds = time.perf_counter() - t0
        results = [
            (
                "cec",
                "latent",
                outcome.labels,
                cae_seconds + cec_seconds,
                f"{outcome.result.epochs_run} epochs, {outcome.result.stop_reason}",
            ),
            (f"cae_{cec_clustering['init']}", "latent", outcome.init_labels, float("nan"), "CEC's initialisation"),
        ]
        results += [
            (r.method, r.space, r.labels, r.seconds, r.note)
            for r in run_baselines(latent, genotypes, k, seed=args.seed)
        ]
        # The same PCA baselines on the variants the images hold (the highest-variance ones): what the CAE
        # sees, so that a CEC gain is not only the gain of the variance filter.
        results += [
            (f"{r.method}_image_variants", "image variants", r.labels, r.seconds, r.note)
            for r in run_baselines(
                latent, genotypes[:, kept], k, seed=args.seed, methods=["pca_kmeans", "pca_ward"]
            )
        ]
        if not args.skip_fastmixture:
            labels, seconds = run_fastmixture(args.out / "1kg", k, args.seed, args.threads)
            results.append(("fastmixture", "genotypes", labels, seconds, "argmax Q"))
        for method, space, labels, seconds, note in results:
            rows.append(
                {
                    "level": level,
                    "K": k,
                    "method": method,
                    "space": space,
                    **score_clustering(truth, labels),
                    "clusters_found": len(np.unique(labels)),
                    "seconds": seconds,
                    "note": note,
                }
            )
            log.info(
                "%s %s: %s",
                level,
                method,
                {m: round(v, 3) for m, v in rows[-1].items() if isinstance(v, float)},
            )
        np.save(args.out / f"cec_{level}_q.npy", outcome.q)

    table = pd.DataFrame(rows)
    table.to_csv(args.out / "results.tsv", sep="\t", index=False, float_format="%.4f")
    md = [
        f"Data: {gn.shape[0]} samples, {gn.shape[1]} SNVs; images {images.shape[-1]}x{images.shape[-1]} "
        f"({len(kept)} highest-variance SNVs); CAE {cae_fit.epochs_run} epochs ({cae_fit.stop_reason}), "
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
