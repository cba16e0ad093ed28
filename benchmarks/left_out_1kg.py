"""Benchmark: populations the model never saw (issue 19), on real 1000 Genomes data, by running the pipeline.

Data: ``--data`` (``../shared/data/1kg_phase3_subset``, 12 populations). Two cohorts on the same VCFs, told
apart by their panels:

- ``kg_ref`` (trained): the populations other than ``--leave-out`` (default GIH, the subset's only South
  Asian population, and LWK, an African population beside three others), less ``--holdout`` (10 %) of each
  population's samples (seeded by ``--seed``);
- ``kg_new`` (``predict_with: kg_ref``): those held-out samples and every sample of the left-out populations.

Snakemake runs ``results/kg_new/predict/predictions.tsv`` with ``config/config.yaml`` + ``--configfile``
(default ``config/1kg.yaml``): kg_ref's genotype stage, CAE, classifier, its CV (the calibration's input),
calibration and out-of-reference model, then kg_new's genotype stage and predict. The table: per population,
how many samples were called ``unassigned`` at pop and at super_pop (calibrated top probability below the
threshold), flagged ``outlier`` (out-of-reference score beyond the cutoff), and flagged: an outlier or
unassigned at super_pop (the pop-level call is not the flag: populations of one continent are often
unassigned between each other, which says nothing about a sample being outside the reference). Targets
(issue 19): >= 90 % of the left-out samples flagged, <= 5 % of the held-out samples of the trained
populations.

Usage::

    nice -n 10 .venv/bin/python benchmarks/left_out_1kg.py [--leave-out GIH,LWK] [--holdout 0.1] [--seed 1]
        [--contigs 1-22] [--cores 2] [--configfile config/1kg.yaml] [--out benchmarks/out/left_out_1kg]
        [--tabulate-only]

Writes ``left_out_1kg.tsv`` and ``left_out_1kg.md`` (printed) under ``--out``; the Snakemake log under
``logs/``.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from _config import load_config
from _snakebench import ROOT, run_snakemake

DATA = ROOT.parent / "shared" / "data" / "1kg_phase3_subset"
PANEL = "integrated_call_samples_v3.20130502.ALL.panel"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--leave-out", default="GIH,LWK")
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--contigs", default="1-22")
    p.add_argument("--cores", default="2")
    p.add_argument("--configfile", type=Path, default=ROOT / "config" / "1kg.yaml")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "left_out_1kg")
    p.add_argument("--tabulate-only", action="store_true")
    return p.parse_args(argv)


def vcf_samples(data: Path) -> list[str]:
    out = subprocess.run(
        ["bcftools", "query", "-l", str(data / "chr22.vcf.gz")], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def split_panels(args, work: Path) -> tuple[Path, Path]:
    """The reference and new cohorts' panels: the subset's samples only, split as the module says."""
    panel = pd.read_csv(args.data / PANEL, sep="\t", dtype=str).iloc[:, :3]
    panel = panel[panel["sample"].isin(vcf_samples(args.data))]
    left = args.leave_out.split(",")
    missing = set(left) - set(panel["pop"])
    if missing:
        raise SystemExit(f"--leave-out {sorted(missing)}: not populations of the subset")
    rng = np.random.default_rng(args.seed)
    held = []
    for _, group in panel[~panel["pop"].isin(left)].groupby("pop"):
        n = max(1, round(args.holdout * len(group)))
        held += rng.choice(group["sample"].to_numpy(), size=n, replace=False).tolist()
    new = panel["pop"].isin(left) | panel["sample"].isin(held)
    (work / "panels").mkdir(parents=True, exist_ok=True)
    ref_path, new_path = work / "panels" / "kg_ref.panel", work / "panels" / "kg_new.panel"
    panel[~new].to_csv(ref_path, sep="\t", index=False)
    panel[new].to_csv(new_path, sep="\t", index=False)
    return ref_path, new_path


def make_work(args, work: Path) -> None:
    ref_panel, new_panel = split_panels(args, work)
    config = load_config([args.configfile])
    config["cohorts"], config["results"] = "config/cohorts.tsv", "results"
    (work / "config").mkdir(parents=True, exist_ok=True)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    row = {
        "vcf": str(args.data / "chr{contig}.vcf.gz"),
        "contigs": args.contigs,
        "label_columns": "pop,super_pop",
        "populations": "all",
    }
    sheet = pd.DataFrame(
        [
            {"name": "kg_ref", **row, "panel": str(ref_panel), "predict_with": ""},
            {"name": "kg_new", **row, "panel": str(new_panel), "predict_with": "kg_ref"},
        ]
    )
    sheet.to_csv(work / "config" / "cohorts.tsv", sep="\t", index=False)


def tabulate(args, work: Path) -> str:
    pred = pd.read_csv(work / "results/kg_new/predict/predictions.tsv", sep="\t", dtype={"sample": str})
    left = args.leave_out.split(",")
    pred["group"] = np.where(pred["pop"].isin(left), "left out", "held out (trained)")
    pred["unassigned"] = pred["call"] == "unassigned"
    pred["unassigned_super_pop"] = pred["call_super_pop"] == "unassigned"
    pred["flagged"] = pred["unassigned_super_pop"] | pred["outlier"]
    rows = []
    for (group, pop), part in [*pred.groupby(["group", "pop"]), *pred.groupby(["group", "group"])]:
        rows.append(
            {
                "group": group,
                "population": pop if pop != group else "all",
                "n": len(part),
                "unassigned": part["unassigned"].mean(),
                "unassigned_super_pop": part["unassigned_super_pop"].mean(),
                "outlier": part["outlier"].mean(),
                "flagged": part["flagged"].mean(),
                "most_similar": part["most_similar"].value_counts().head(3).to_dict(),
            }
        )
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "left_out_1kg.tsv", sep="\t", index=False)
    report = yaml.safe_load((work / "results/kg_new/predict/overlap.json").read_text())
    lines = [
        f"Commit `{git_commit()}`, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC. Data: {args.data}, "
        f"contigs {args.contigs}; left out: {', '.join(left)}; {args.holdout:.0%} of every other population "
        f"held out (seed {args.seed}). Config: {args.configfile.relative_to(ROOT)}. Outlier cutoff "
        f"{report['outlier_cutoff']:.3g}, assign threshold {report['assign_threshold']}.",
        "",
        "| group | population | n | unassigned (pop) | unassigned (super_pop) | outlier | flagged | most similar (top 3) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['group']} | {r['population']} | {r['n']} | {r['unassigned']:.1%} | "
            f"{r['unassigned_super_pop']:.1%} | {r['outlier']:.1%} | "
            f"{r['flagged']:.1%} | {', '.join(f'{k} {v}' for k, v in r['most_similar'].items())} |"
        )
    text = "\n".join(lines) + "\n"
    (args.out / "left_out_1kg.md").write_text(text)
    return text


def git_commit() -> str:
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], capture_output=True, text=True, cwd=ROOT)
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def main(argv=None) -> int:
    args = parse_args(argv)
    work = args.out / "work"
    if not args.tabulate_only:
        make_work(args, work)
        seconds = run_snakemake(
            work,
            ["--cores", args.cores, "--", "results/kg_new/predict/predictions.tsv"],
            args.out / "logs" / "snakemake.log",
        )
        print(f"snakemake: {seconds / 60:.1f} min", file=sys.stderr)
    print(tabulate(args, work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
