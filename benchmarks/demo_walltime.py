"""Benchmark: the demo end to end, as `make demo` runs it, in a fresh working folder.

Copies the project's config/config.yaml and config/cohorts.tsv into a new temporary folder (nothing of an
earlier run is reused: the demo cohort is simulated again), then times

1. ``snakemake --cores N`` (every target: simulation, genotypes, representation, clustering,
   classification, predict, explain, introgression), and
2. ``snakemake --report report.html``,

and sums Snakemake's own per-job ``benchmark:`` TSVs per stage (the ``rules/<stage>.smk`` file that defines
the rule) and per rule. The sums are job seconds: with N cores jobs overlap, so they add up to more than
the wall time; rules without a ``benchmark:`` (small figure/table jobs) are in the wall time only.

Usage::

    .venv/bin/python benchmarks/demo_walltime.py [--cores 2] [--out benchmarks/out/demo_walltime] [--keep]

Writes ``<out>/demo_walltime.md`` (printed), ``<out>/demo_walltime.tsv`` (one row per job) and the
Snakemake logs; ``--keep`` keeps the working folder (under ``<out>/work``) instead of a temporary one.
About 15 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _snakebench import ROOT, collect_benchmarks, make_workdir, per_rule, run_snakemake  # noqa: E402

log = logging.getLogger("popcen")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "demo_walltime")
    p.add_argument(
        "--keep", action="store_true", help="run in <out>/work (kept) instead of a temporary folder"
    )
    p.add_argument("--timeout", type=float, default=3600, help="seconds before the demo run is stopped")
    args = p.parse_args(argv)
    if args.cores < 1:
        p.error("--cores must be >= 1")
    if args.timeout <= 0:
        p.error("--timeout must be > 0")
    return args


def jobs_done(log_path: Path) -> int:
    """The job count of Snakemake's last 'N of M steps (100%) done' line (0 when nothing ran)."""
    counts = re.findall(r"(\d+) of (\d+) steps \(100%\) done", log_path.read_text())
    return int(counts[-1][1]) if counts else 0


def demo_run(args, work: Path) -> dict:
    make_workdir(work)  # the project's own config and cohort sheet, nothing overridden
    run_seconds = run_snakemake(
        work, ["--cores", args.cores], args.out / "snakemake.log", timeout=args.timeout
    )
    log.info("demo: %.0f s", run_seconds)
    report_seconds = run_snakemake(
        work, ["--report", "report.html"], args.out / "report.log", timeout=args.timeout
    )
    if not (work / "report.html").is_file():
        raise SystemExit(f"snakemake --report wrote no {work / 'report.html'}")
    log.info("report: %.0f s (%.1f MB)", report_seconds, (work / "report.html").stat().st_size / 1e6)
    bench = collect_benchmarks(work)
    return {
        "run_s": run_seconds,
        "report_s": report_seconds,
        "jobs": jobs_done(args.out / "snakemake.log"),
        "report_mb": (work / "report.html").stat().st_size / 1e6,
        "bench": bench,
    }


def markdown(args, r: dict) -> str:
    bench = r["bench"]
    stages = per_rule(bench, ["stage"]).sort_values("s", ascending=False)
    rules = per_rule(bench, ["stage", "rule"]).sort_values("s", ascending=False)
    total = r["run_s"] + r["report_s"]
    md = [
        f"Demo (config/config.yaml as it stands), fresh working folder, `--cores {args.cores}`: "
        f"**{total / 60:.1f} min** end to end = {r['run_s']:.0f} s for {r['jobs']} jobs + "
        f"{r['report_s']:.0f} s for `--report` ({r['report_mb']:.1f} MB HTML). "
        f"Benchmarked jobs: {len(bench)}, Σ {bench['s'].sum():.0f} job-seconds "
        f"(Σ CPU {bench['cpu_time'].sum():.0f} s).",
        "",
        "| stage | jobs | Σ wall s | Σ CPU s | max RSS MB |",
        "|:--|--:|--:|--:|--:|",
    ]
    md += [
        f"| {s.stage} | {s.jobs} | {s.s:.1f} | {s.cpu_time:.1f} | {s.max_rss:.0f} |"
        for s in stages.itertuples()
    ]
    md += ["", "| stage | rule | jobs | Σ wall s | Σ CPU s | max RSS MB |", "|:--|:--|--:|--:|--:|--:|"]
    md += [
        f"| {s.stage} | {s.rule} | {s.jobs} | {s.s:.1f} | {s.cpu_time:.1f} | {s.max_rss:.0f} |"
        for s in rules.itertuples()
    ]
    return "\n".join(md)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.keep:
        work = args.out / "work"
        if work.exists():
            shutil.rmtree(work)  # a fresh run every time: nothing of an earlier run is reused
        work.mkdir()
        result = demo_run(args, work)
    else:
        with tempfile.TemporaryDirectory(prefix="popcen_demo_") as tmp:
            result = demo_run(args, Path(tmp))
    result["bench"].to_csv(args.out / "demo_walltime.tsv", sep="\t", index=False)
    md = markdown(args, result)
    (args.out / "demo_walltime.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
