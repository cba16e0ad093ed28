"""Benchmark: how each pipeline stage's cost grows with the number of variants and of samples.

One chr22-scale simulated cohort (popcen.demo: stdpopsim OutOfAfrica_4J17, YRI/CEU/CHB/JPT, mean
recombination rate) is cut into cohorts of

* a reproducible random subset of the VCF records (default 5 %, 25 %, 100 %; the same records at every
  sample count), written as BGZF + tabix, and
* a subset of the samples (default 250 and 1,000; populations balanced, ``bcftools view -s``),

and every combination becomes one cohort of one cohort sheet in one Snakemake working folder
(``<out>/work``). The pipeline runs there up to ``explain`` (introgression does not depend on the cohort and
is left out with ``--omit-from``), with the training epochs capped for timing. Each rule's wall time, CPU
time and max RSS are then read from Snakemake's own ``benchmark:`` TSVs (summed over a rule's jobs: contigs,
label levels; RSS: the largest job), seconds per epoch from the loss tables, and per rule the growth
exponents of ``cost ∝ records^a · samples^b`` are fitted by least squares on the log-log points.

Usage::

    .venv/bin/python benchmarks/scaling.py [--fractions 0.05,0.25,1] [--samples 250,1000]
        [--length 24000000] [--max-epochs 3] [--lightgbm-trees 50] [--cores 2] [--out benchmarks/out/scaling]

Outputs under ``--out``: the simulated VCF (cached, keyed on model, length, samples and seed: the same file
benchmarks/genotypes.py simulates), the subsets, ``work/`` (the Snakemake folder; jobs already done are
not rerun), ``scaling.tsv`` (one row per cohort × rule), ``scaling.md`` (printed) and ``scaling.png``
(log-log plot; a small copy goes to benchmarks/scaling.png with ``--copy-plot``). About 45 minutes on
2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _snakebench import (  # noqa: E402
    ROOT,
    benchmarked_rules,
    collect_benchmarks,
    epoch_times,
    make_workdir,
    per_rule,
    rules_matching,
    run_snakemake,
)

from popcen.demo import sample_names, sampled_populations, simulate_contig, write_vcf  # noqa: E402

log = logging.getLogger("popcen")
MODEL = "OutOfAfrica_4J17"
# Stages left out: they do not depend on the cohort (introgression) or fetch public files (downloads).
OMITTED_PREFIXES = ("introgression", "download", "sgdp")


def float_list(text: str) -> list[float]:
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or any(not 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated fractions in (0, 1]")
    return sorted(set(values))


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers") from None
    if not values or any(v < 8 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: expected sample counts >= 8 (2 per population)")
    return sorted(set(values))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--fractions",
        type=float_list,
        default=[0.05, 0.25, 1.0],
        help="fractions of the VCF records (default 0.05,0.25,1)",
    )
    p.add_argument(
        "--samples",
        type=int_list,
        default=[250, 1000],
        help="sample counts (default 250,1000); the largest is simulated",
    )
    p.add_argument("--length", type=int, default=24_000_000, help="bp of chr22 simulated (default 24 Mb)")
    p.add_argument("--contig", default="chr22")
    p.add_argument("--seed", type=int, default=20240601, help="simulation seed (also picks the records)")
    p.add_argument(
        "--min-variants",
        type=int,
        default=300_000,
        help="refuse a simulated VCF with fewer records (default 300,000)",
    )
    p.add_argument(
        "--max-epochs",
        type=int,
        default=3,
        help="epoch cap of every training (CAE, CEC, classifier; default 3)",
    )
    p.add_argument(
        "--lightgbm-trees", type=int, default=50, help="explain's LightGBM n_estimators (default 50)"
    )
    p.add_argument(
        "--max-image-variants",
        type=int,
        default=4096,
        help="representation.max_variants: variants in the genotype image (default 4096, as the demo)",
    )
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "scaling")
    p.add_argument(
        "--copy-plot",
        type=Path,
        default=None,
        help="also write a small copy of the plot here (e.g. benchmarks/scaling.png)",
    )
    p.add_argument(
        "--target-records",
        type=float,
        default=84e6,
        help="extrapolate to this many VCF records genome-wide (default 84e6: 1000 Genomes phase 3)",
    )
    p.add_argument("--target-samples", type=int, default=2504, help="... and samples (default 2,504)")
    p.add_argument(
        "--target-contigs", type=int, default=22, help="... in this many per-contig jobs (default 22)"
    )
    p.add_argument(
        "--target-largest-contig",
        type=float,
        default=7.08e6,
        help="records of the largest contig (default 7.08e6: 1000 Genomes chr2)",
    )
    p.add_argument(
        "--gpu-speedup",
        type=float,
        default=10.0,
        help="ASSUMED speed-up of the training rules on one GPU over these CPU cores (default 10; "
        "not measured here)",
    )
    p.add_argument(
        "--collect-only", action="store_true", help="do not run Snakemake: tabulate what <out>/work holds"
    )
    args = p.parse_args(argv)
    if (
        min(
            args.target_records,
            args.target_samples,
            args.target_contigs,
            args.target_largest_contig,
            args.gpu_speedup,
        )
        <= 0
    ):
        p.error("--target-* and --gpu-speedup must be > 0")
    for name in ("length", "max_epochs", "lightgbm_trees", "max_image_variants", "cores", "min_variants"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


# ------------------------------------------------------------------------------------------ the cohorts


def simulated_vcf(args, per_population: int) -> tuple[Path, Path]:
    """The cached full cohort (VCF + tabix) and its panel; simulated on first use."""
    stem = f"{MODEL}.{args.contig}.{args.length}bp.{per_population}x4.seed{args.seed}"
    vcf, panel = args.out / f"{stem}.vcf.gz", args.out / f"{stem}.panel"
    if not (vcf.exists() and Path(f"{vcf}.tbi").exists()):
        log.info("simulating %s (%d bp, %d per population)", vcf.name, args.length, per_population)
        t0 = time.perf_counter()
        ts = simulate_contig(MODEL, args.contig, args.length, per_population, args.seed)
        write_vcf(ts, args.contig, vcf)
        log.info("simulated and wrote %s in %.0f s", vcf, time.perf_counter() - t0)
    if not panel.exists():
        sample_names(sampled_populations(MODEL), 0, per_population).to_csv(panel, sep="\t", index=False)
    return vcf, panel


def record_count(vcf: Path) -> int:
    out = subprocess.run(["bcftools", "index", "-n", str(vcf)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def balanced_samples(panel: pd.DataFrame, n: int) -> list[str]:
    """The first ``n`` samples taking one of each population in turn (populations stay balanced)."""
    order = panel.assign(rank=panel.groupby("pop").cumcount()).sort_values(["rank", "pop"], kind="stable")
    return order["sample"].head(n).tolist()


def subset_samples(vcf: Path, samples: list[str], out: Path) -> Path:
    if not out.exists():
        keep = out.with_suffix(".samples.txt")
        keep.write_text("\n".join(samples) + "\n")
        tmp = out.with_name(out.name + ".tmp.vcf.gz")
        subprocess.run(
            ["bcftools", "view", "--no-version", "-S", str(keep), "-Oz", "-o", str(tmp), str(vcf)], check=True
        )
        tmp.replace(out)
        subprocess.run(["tabix", "-f", "-p", "vcf", str(out)], check=True)
    return out


def subset_records(vcf: Path, keep: np.ndarray, out: Path) -> Path:
    """Write the records whose index is True in ``keep`` (BGZF + tabix), header unchanged."""
    if out.exists():
        return out
    tmp = out.with_name(out.name + ".tmp.vcf.gz")
    reader = subprocess.Popen(["bgzip", "-dc", str(vcf)], stdout=subprocess.PIPE)
    with open(tmp, "wb") as fh, subprocess.Popen(["bgzip", "-c"], stdin=subprocess.PIPE, stdout=fh) as writer:
        i = 0
        for line in reader.stdout:
            if line.startswith(b"#"):
                writer.stdin.write(line)
                continue
            if keep[i]:
                writer.stdin.write(line)
            i += 1
        writer.stdin.close()
        if writer.wait() != 0 or reader.wait() != 0 or i != keep.size:
            raise RuntimeError(f"subsetting {vcf} failed ({i} records read, {keep.size} expected)")
    tmp.replace(out)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(out)], check=True)
    return out


def record_mask(n_records: int, fraction: float, seed: int) -> np.ndarray:
    """A reproducible random ``fraction`` of ``n_records`` (exactly round(fraction * n) records)."""
    keep = np.zeros(n_records, dtype=bool)
    rng = np.random.default_rng([seed, round(fraction * 1_000_000)])
    keep[rng.choice(n_records, size=round(fraction * n_records), replace=False)] = True
    return keep


def cohort_name(fraction: float, n_samples: int) -> str:
    return f"v{fraction * 100:g}pct_n{n_samples}".replace(".", "p")


def build_cohorts(args) -> tuple[pd.DataFrame, Path]:
    """VCF of every fraction × sample count; returns one row per cohort (name, vcf, records, samples)."""
    n_max = max(args.samples)
    per_population = -(-n_max // 4)  # the 4 populations of the model
    vcf, panel_path = simulated_vcf(args, per_population)
    n_records = record_count(vcf)
    if n_records < args.min_variants:
        raise SystemExit(
            f"{vcf} holds {n_records:,} records < --min-variants {args.min_variants:,}: raise --length"
        )
    panel = pd.read_csv(panel_path, sep="\t")
    subsets = args.out / "subsets"
    subsets.mkdir(exist_ok=True)
    rows = []
    for n in args.samples:
        by_samples = (
            vcf
            if n == len(panel)
            else subset_samples(vcf, balanced_samples(panel, n), subsets / f"n{n}.vcf.gz")
        )
        for fraction in args.fractions:
            name = cohort_name(fraction, n)
            path = (
                by_samples
                if fraction == 1
                else subset_records(
                    by_samples, record_mask(n_records, fraction, args.seed), subsets / f"{name}.vcf.gz"
                )
            )
            rows.append(
                {
                    "cohort": name,
                    "fraction": fraction,
                    "samples": n,
                    "records": record_count(path),
                    "vcf": str(path.resolve()),
                }
            )
            log.info("cohort %s: %s", name, path)
    return pd.DataFrame(rows), panel_path.resolve()


def config_overrides(args) -> dict:
    """The demo config with the training capped for timing (what the caps are is said in the table)."""
    epochs = args.max_epochs
    return {
        "cohorts": "config/cohorts.tsv",
        "results": "results",
        "device": "cpu",
        "training": {"max_epochs": epochs},
        "representation": {"max_variants": args.max_image_variants},
        "clustering": {"training": {"max_epochs": epochs}, "k_sweep_epochs": min(epochs, 2)},
        "classification": {"max_epochs": epochs},
        "explain": {"lightgbm": {"n_estimators": args.lightgbm_trees}},
    }


def run_pipeline(args, cohorts: pd.DataFrame, panel: Path) -> float:
    work = args.out / "work"
    rows = [
        {
            "name": c,
            "vcf": v,
            "panel": str(panel),
            "contigs": args.contig,
            "label_columns": "pop,super_pop",
            "populations": "all",
            "predict_with": "",
        }
        for c, v in zip(cohorts["cohort"], cohorts["vcf"], strict=True)
    ]
    make_workdir(work, config_overrides(args), rows)
    omit = rules_matching(OMITTED_PREFIXES)
    cmd = ["--cores", args.cores, "--keep-going", "--omit-from", *omit]
    log.info("snakemake %s (in %s)", " ".join(map(str, cmd)), work)
    seconds = run_snakemake(work, cmd, args.out / "snakemake.log")
    log.info("pipeline: %.0f s", seconds)
    return seconds


def log_wall_seconds(log_path: Path) -> float | None:
    """First to last job timestamp of a Snakemake log (the wall time of a run tabulated later)."""
    import re
    from datetime import datetime

    if not log_path.exists():
        return None
    stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ [\d:]{8} \d{4})\]$", log_path.read_text(), re.MULTILINE)
    if len(stamps) < 2:
        return None
    first, last = (datetime.strptime(t, "%a %b %d %H:%M:%S %Y") for t in (stamps[0], stamps[-1]))
    return (last - first).total_seconds()


# ------------------------------------------------------------------------------------------- the results


def fit_exponents(points: pd.DataFrame, column: str) -> dict:
    """Least squares on log cost = c + a log records + b log samples; nan where the points cannot fix it."""
    pts = points[points[column].astype(float) > 0]
    if len(pts) < 3 or pts["records"].nunique() < 2 or pts["samples"].nunique() < 2:
        return {"a": np.nan, "b": np.nan, "r2": np.nan}
    x = np.column_stack(
        [np.ones(len(pts)), np.log(pts["records"].to_numpy(float)), np.log(pts["samples"].to_numpy(float))]
    )
    y = np.log(pts[column].to_numpy(float))
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    ss = ((y - y.mean()) ** 2).sum()
    return {"a": coef[1], "b": coef[2], "r2": 1 - (resid**2).sum() / ss if ss > 0 else np.nan}


def tabulate(args, cohorts: pd.DataFrame) -> pd.DataFrame:
    work = args.out / "work"
    bench = collect_benchmarks(work)
    bench = bench[bench["cohort"].isin(cohorts["cohort"])]
    table = per_rule(bench, ["cohort", "stage", "rule"]).merge(
        cohorts[["cohort", "fraction", "samples", "records"]]
    )
    epochs = pd.concat([epoch_times(work, c).assign(cohort=c) for c in cohorts["cohort"]], ignore_index=True)
    table = table.merge(epochs, how="left", on=["cohort", "rule"])
    return table


def inputs_table(args, cohorts: pd.DataFrame) -> pd.DataFrame:
    """What each cohort held after QC and LD pruning (qc/summary.tsv, row 'total'), and the image size."""
    rows = []
    for c in cohorts.itertuples():
        summary = args.out / "work" / "results" / c.cohort / "qc" / "summary.tsv"
        total = pd.read_csv(summary, sep="\t").set_index("contig").loc["total"] if summary.exists() else None
        qc = float(total["kept"]) if total is not None else np.nan
        ld = float(total["ld_pruned_kept"]) if total is not None else np.nan
        rows.append(
            {
                "cohort": c.cohort,
                "records": c.records,
                "samples": c.samples,
                "qc_kept": qc,
                "ld_kept": ld,
                "image_variants": min(ld, args.max_image_variants) if ld == ld else np.nan,
            }
        )
    return pd.DataFrame(rows)


# Rules whose work is capped here for timing: the config keys of the full run's value, and the capped value
# used here. Training: epochs (an upper bound: early stopping may end sooner); explain: LightGBM trees (an
# upper bound too: building LightGBM's dataset and SHAP do not grow with the trees).
CAPPED = {
    "train_cae": (("training", "max_epochs"), lambda args: args.max_epochs),
    "train_cec": (("clustering", "training", "max_epochs"), lambda args: args.max_epochs),
    "k_sweep": (("clustering", "k_sweep_epochs"), lambda args: min(args.max_epochs, 2)),
    "train_classifier": (("classification", "max_epochs"), lambda args: args.max_epochs),
    "evaluate_classifier": (("classification", "max_epochs"), lambda args: args.max_epochs),
    "explain": (("explain", "lightgbm", "n_estimators"), lambda args: args.lightgbm_trees),
}
# The rules that would run on the GPU (the training loop of popcen.training).
GPU_RULES = ("train_cae", "train_cec", "k_sweep", "train_classifier", "evaluate_classifier")


def epoch_factor(args, rule: str) -> float:
    """The project config's value / the capped value here (epochs, trees), 1 for uncapped rules."""
    import yaml

    if rule not in CAPPED:
        return 1.0
    keys, capped = CAPPED[rule]
    value = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key in keys:
        value = value[key]
    return max(float(value) / capped(args), 1.0)


def extrapolate(args, table: pd.DataFrame) -> pd.DataFrame:
    """Each rule's wall time at the target size, from the largest combination measured: per-contig rules at
    the largest contig (they run in parallel, one job per contig), the others at the whole genome; training
    rules also × the full run's epochs / the capped epochs here, explain × the full run's trees / the capped
    trees. Two projections:

    * ``fitted``: × (records ratio)^a × (samples ratio)^b with the fitted exponents (negative ones taken as
      0). Fixed start-up costs (imports, ~3-5 s a job here) flatten the small points, so this is low;
    * ``linear``: cost ∝ samples, and ∝ records for every rule whose cost visibly grows with them (fitted
      a >= 0.2): the upper bound for algorithms that touch every call a fixed number of times.
    """
    per_contig = {r.rule for r in benchmarked_rules() if "contig" in r.regex.groupindex}
    rows = []
    for rule, rows_rule in table.groupby("rule", sort=False):
        ref = rows_rule.sort_values(["samples", "records"]).iloc[-1]
        fit = fit_exponents(rows_rule, "s")
        if fit["a"] != fit["a"]:
            continue
        a, b = max(fit["a"], 0.0), max(fit["b"], 0.0)
        records = args.target_records
        if rule in per_contig:
            records = args.target_largest_contig
        r_ratio, n_ratio = records / ref["records"], args.target_samples / ref["samples"]
        base = ref["s"] * epoch_factor(args, rule) / (ref["jobs"] if rule in per_contig else 1)
        rows.append(
            {
                "stage": ref["stage"],
                "rule": rule,
                "per_contig": rule in per_contig,
                "a": a,
                "b": b,
                "measured_s": ref["s"],
                "epoch_factor": epoch_factor(args, rule),
                "fitted_s": base * r_ratio**a * n_ratio**b,
                "linear_s": base * r_ratio ** (1.0 if fit["a"] >= 0.2 else a) * n_ratio,
                "gpu": rule in GPU_RULES,
            }
        )
    return pd.DataFrame(rows)


def critical_path_hours(args, proj: pd.DataFrame, column: str) -> tuple[float, float, float, float]:
    """(largest contig's chain, cohort-wide CPU rules, training rules on one GPU, all on CPU) in hours."""
    contig_chain = proj.loc[proj["per_contig"], column].sum()
    cpu_after = proj.loc[~proj["per_contig"] & ~proj["gpu"], column].sum()
    gpu = proj.loc[proj["gpu"], column].sum()
    return (
        contig_chain / 3600,
        cpu_after / 3600,
        gpu / args.gpu_speedup / 3600,
        (contig_chain + cpu_after + gpu) / 3600,
    )


def extrapolation_markdown(args, proj: pd.DataFrame) -> list[str]:
    if proj.empty:
        return []
    md = [
        "",
        f"Extrapolated to {args.target_records / 1e6:g} M records × {args.target_samples:,} samples "
        f"({args.target_contigs} per-contig jobs, the largest {args.target_largest_contig / 1e6:g} M records), "
        "from the wall time at the largest size measured × the full run's / the capped epochs (training "
        "rules) or trees (explain) × the size ratios, with the fitted exponents and with linear growth (see `extrapolate`):",
        "",
        "| stage | rule | per contig | measured s | a | b | epochs/trees × | projected h, fitted | projected h, linear |",
        "|:--|:--|:--|--:|--:|--:|--:|--:|--:|",
    ]
    for r in proj.itertuples():
        md.append(
            f"| {r.stage} | {r.rule} | {'yes' if r.per_contig else 'no'} | {r.measured_s:.1f} | {r.a:.2f} | "
            f"{r.b:.2f} | {r.epoch_factor:.1f} | {r.fitted_s / 3600:.2f} | {r.linear_s / 3600:.2f} |"
        )
    for column in ("fitted_s", "linear_s"):
        chain, cpu, gpu, all_cpu = critical_path_hours(args, proj, column)
        md += [
            "",
            f"Critical path ({column.split('_')[0]}), SLURM cluster with one GPU: the largest contig's "
            f"per-contig chain {chain:.1f} h + cohort-wide CPU rules {cpu:.1f} h + training rules one after "
            f"the other on the GPU {gpu:.1f} h (**assumed** ×{args.gpu_speedup:g} speed-up over these 2 CPU "
            f"cores, not measured) = **{chain + cpu + gpu:.1f} h**; with the training on CPU as measured here: "
            f"{all_cpu:.1f} h.",
        ]
    return md


def combo_label(fraction: float, samples: int) -> str:
    return f"{fraction * 100:g} % × {samples:,}"


def markdown(args, table: pd.DataFrame, inputs: pd.DataFrame, wall: float | None, proj: pd.DataFrame) -> str:
    combos = table[["fraction", "samples"]].drop_duplicates().sort_values(["samples", "fraction"])
    labels = [combo_label(f, n) for f, n in combos.itertuples(index=False)]
    order = table.drop_duplicates("rule")[["stage", "rule"]]
    stage_rank = {
        s: i
        for i, s in enumerate(
            ["demo", "genotypes", "representation", "clustering", "classification", "predict", "explain"]
        )
    }
    order = order.assign(rank=order["stage"].map(stage_rank).fillna(99)).sort_values(["rank"], kind="stable")

    def grid(column: str, fmt, only=None) -> list[str]:
        head = "| stage | rule | " + " | ".join(labels) + " | a (records) | b (samples) | R² |"
        lines = [head, "|:--|:--|" + "--:|" * (len(labels) + 3)]
        for stage, rule, _ in order.itertuples(index=False):
            if only is not None and rule not in only:
                continue
            rows = table[table["rule"] == rule]
            cells = []
            for f, n in combos.itertuples(index=False):
                hit = rows[(rows["fraction"] == f) & (rows["samples"] == n)]
                cells.append(
                    fmt(hit.iloc[0]) if not hit.empty and hit.iloc[0][column] == hit.iloc[0][column] else "–"
                )
            fit = fit_exponents(rows, column)
            lines.append(
                f"| {stage} | {rule} | "
                + " | ".join(cells)
                + f" | {fit['a']:.2f} | {fit['b']:.2f} | {fit['r2']:.2f} |"
            )
        return lines

    totals = table.groupby(["fraction", "samples"])[["s", "cpu_time"]].sum()
    md = [
        f"Cohorts: {MODEL} {args.contig}, {args.length:,} bp simulated; columns are *records kept × samples*. "
        f"Training capped at {args.max_epochs} epochs (CAE, CEC, classifier per fold; K sweep "
        f"{min(args.max_epochs, 2)}), genotype image ≤ {args.max_image_variants:,} variants, "
        f"LightGBM {args.lightgbm_trees} trees; {args.cores} cores, all cohorts in one Snakemake run"
        + (f" ({wall / 60:.1f} min wall)." if wall else "."),
        "",
        "| cohort | VCF records | samples | passed QC | after LD pruning | image variants | Σ wall s | Σ CPU s |",
        "|:--|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in inputs.merge(table[["cohort", "fraction"]].drop_duplicates()).itertuples():
        t = totals.loc[(r.fraction, r.samples)]
        md.append(
            f"| {r.cohort} | {r.records:,} | {r.samples:,} | {r.qc_kept:,.0f} | {r.ld_kept:,.0f} | "
            f"{r.image_variants:,.0f} | {t['s']:.0f} | {t['cpu_time']:.0f} |"
        )
    md += [
        "",
        "Wall seconds per rule (summed over its jobs), and the fitted cost ∝ records^a · samples^b:",
        "",
    ]
    md += grid("s", lambda r: f"{r['s']:.1f}")
    md += ["", "CPU seconds per rule (less sensitive to the other jobs sharing the machine):", ""]
    md += grid("cpu_time", lambda r: f"{r['cpu_time']:.1f}")
    md += ["", "Max RSS (MB, the largest job of the rule):", ""]
    md += grid("max_rss", lambda r: f"{r['max_rss']:.0f}")
    trained = table.dropna(subset=["s_per_epoch"])
    if not trained.empty:
        md += [
            "",
            "Seconds per epoch (median over epochs; epochs run in brackets, summed over a rule's jobs):",
            "",
        ]
        md += grid(
            "s_per_epoch", lambda r: f"{r['s_per_epoch']:.2f} ({r['epochs']:.0f})", only=set(trained["rule"])
        )
    md += extrapolation_markdown(args, proj)
    return "\n".join(md)


def plot(table: pd.DataFrame, path: Path, small: Path | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    rules = table.drop_duplicates("rule")["rule"].tolist()
    ncols = 4
    nrows = -(-len(rules) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    records = sorted(table["records"].unique())
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, rule in zip(axes.flat, rules, strict=False):
        rows = table[table["rule"] == rule]
        for n, color in zip(sorted(rows["samples"].unique()), colors, strict=False):
            pts = rows[rows["samples"] == n].sort_values("records")
            ax.plot(pts["records"], pts["s"], "o-", color=color, label=f"{n:,} samples, wall")
            ax.plot(pts["records"], pts["cpu_time"], "x:", color=color, label=f"{n:,} samples, CPU")
        fit = fit_exponents(rows, "s")
        ax.set(xscale="log", yscale="log", title=f"{rule}: a={fit['a']:.2f}, b={fit['b']:.2f}")
        ax.set_xticks(records, [f"{r / 1000:.0f}k" for r in records])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(rules) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("VCF records (log)")
    fig.supylabel("seconds (log): wall o-, CPU x:")
    fig.suptitle("popcen: cost of each rule vs variants and samples (wall: cost ∝ records^a · samples^b)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    if small is not None:
        fig.savefig(small, dpi=45)
    plt.close(fig)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.collect_only and not (args.out / "work").is_dir():
        raise SystemExit(f"--collect-only: {args.out / 'work'} does not exist (run without it first)")
    args.out.mkdir(parents=True, exist_ok=True)
    cohorts, panel = build_cohorts(args)
    wall = (
        log_wall_seconds(args.out / "snakemake.log")
        if args.collect_only
        else run_pipeline(args, cohorts, panel)
    )
    table = tabulate(args, cohorts)
    if table.empty:
        raise SystemExit(f"no benchmark TSVs under {args.out / 'work'}")
    table.to_csv(args.out / "scaling.tsv", sep="\t", index=False)
    proj = extrapolate(args, table)
    proj.to_csv(args.out / "extrapolation.tsv", sep="\t", index=False)
    md = markdown(args, table, inputs_table(args, cohorts), wall, proj)
    (args.out / "scaling.md").write_text(md + "\n")
    plot(table, args.out / "scaling.png", args.copy_plot)
    print(md)


if __name__ == "__main__":
    main()
