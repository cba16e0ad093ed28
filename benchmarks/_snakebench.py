"""Shared by the pipeline benchmarks (scaling.py, demo_walltime.py, genome_scale.py): run Snakemake in a working folder and
read back Snakemake's own per-job ``benchmark:`` TSVs (columns ``s``, ``cpu_time``, ``max_rss``, ...).

Nothing here knows the pipeline's rules: which rule writes which benchmark file, and which stage a rule
belongs to, is read from the workflow by Snakemake itself (``popcen.workflow_rules``), so a rule added
later is picked up without an edit here. (The leading underscore keeps run_all.sh from running this file.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from popcen.workflow_rules import workflow_rules  # noqa: E402
from tests.conftest import SNAKEMAKE, make_workdir  # noqa: E402,F401  (re-exported for the benchmarks)

# Loss tables written by the shared training loop (popcen.training.fit: one row per epoch, a `seconds`
# column), relative to results/{cohort}/, and the rule that writes them.
LOSS_TABLES = {
    "train_cae": "representation/cae_losses.tsv",
    "train_cec": "clustering/*/cec_losses.tsv",
    "train_classifier": "classification/losses.tsv",
}


@dataclass(frozen=True)
class BenchmarkedRule:
    rule: str
    stage: str  # the rules/<stage>.smk file that defines the rule
    regex: re.Pattern  # matches the rule's benchmark paths (relative to the working folder)


def benchmarked_rules() -> list[BenchmarkedRule]:
    """Every rule with a ``benchmark:`` path, as Snakemake reads it (wildcards as named groups, so that the
    cohort can be read off a match)."""
    return [
        BenchmarkedRule(r.name, r.stage, r.benchmark) for r in workflow_rules(ROOT).values() if r.benchmark
    ]


def collect_benchmarks(workdir: Path, results: str = "results") -> pd.DataFrame:
    """One row per benchmark TSV found in ``workdir``: rule, stage, cohort (or ""), file, s, cpu_time,
    max_rss (MB). A rule that ran several times (per contig, per level) has several rows.

    ``max_rss`` is sampled (psutil, summed over the job's processes): every 0.5 s for a job's first ~15 s,
    then every 30 s (snakemake.benchmark), so a shorter peak later in a job can be missed; genome_scale.py
    also reads the kernel's high-water mark (VmHWM) of each job for that reason."""
    rules = benchmarked_rules()
    rows = []
    for tsv in sorted(workdir.rglob("*.tsv")):
        rel = tsv.relative_to(workdir).as_posix()
        if rel.startswith(".snakemake/"):
            continue
        for br in rules:
            m = br.regex.match(rel)
            if m is None:
                continue
            bench = pd.read_csv(tsv, sep="\t")
            if not {"s", "max_rss"} <= set(bench.columns) or bench.empty:
                break  # a result table that happens to match a pattern, not a benchmark
            last = bench.iloc[-1]  # `benchmark: repeat(...)` would give several rows; the last run counts
            rows.append(
                {
                    "rule": br.rule,
                    "stage": br.stage,
                    "cohort": m.groupdict().get("cohort", ""),
                    "file": rel,
                    "s": float(last["s"]),
                    "cpu_time": float(last.get("cpu_time", float("nan"))),
                    "max_rss": float(last["max_rss"]) if str(last["max_rss"]) != "-" else float("nan"),
                }
            )
            break
    return pd.DataFrame(rows, columns=["rule", "stage", "cohort", "file", "s", "cpu_time", "max_rss"])


def per_rule(bench: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sum of wall and CPU seconds over a rule's jobs (contigs, levels), the largest max RSS, the job count."""
    return (
        bench.groupby(by, sort=False)
        .agg(s=("s", "sum"), cpu_time=("cpu_time", "sum"), max_rss=("max_rss", "max"), jobs=("s", "size"))
        .reset_index()
    )


def epoch_times(workdir: Path, cohort: str, results: str = "results") -> pd.DataFrame:
    """Per training rule of one cohort: epochs run (summed over its jobs) and median seconds per epoch,
    from the loss tables' ``seconds`` column."""
    rows = []
    for rule, pattern in LOSS_TABLES.items():
        tables = [pd.read_csv(p, sep="\t") for p in sorted((workdir / results / cohort).glob(pattern))]
        tables = [t for t in tables if "seconds" in t.columns and not t.empty]
        if tables:
            seconds = pd.concat([t["seconds"] for t in tables])
            rows.append({"rule": rule, "epochs": int(seconds.size), "s_per_epoch": float(seconds.median())})
    return pd.DataFrame(rows, columns=["rule", "epochs", "s_per_epoch"])


def run_snakemake(workdir: Path, args: list[str], log_path: Path, timeout: float | None = None) -> float:
    """Run the project's Snakefile in ``workdir`` (output to ``log_path``); returns the wall seconds.
    Raises SystemExit with the log's tail when Snakemake fails."""
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *map(str, args)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=workdir, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-40:])
        raise SystemExit(f"snakemake failed ({proc.returncode}), log {log_path}:\n{tail}")
    return seconds


def rules_matching(prefixes: tuple[str, ...]) -> list[str]:
    """Rule names that start with one of ``prefixes`` (e.g. everything of introgression)."""
    return [name for name in workflow_rules(ROOT) if name.startswith(prefixes)]
