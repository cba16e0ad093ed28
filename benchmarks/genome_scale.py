"""Benchmark: the pipeline's cohort-wide rules at genome scale, as users run them (``snakemake``), and whether
each stays within the memory budget of DESIGN.md (<= 8 GiB peak RSS at 2,504 samples x 1 M variants).

For each size (``--samples`` x each of ``--variants``):

1. **A structured cohort, written straight into a feature store** as rule ``assemble_features`` writes it
   (``results/<cohort>/features/{genotypes.zarr,variants.tsv,samples.tsv}``, with
   ``popcen.features.FeatureWriter`` and ``contig_variants``), in blocks of variants so that the generator
   never holds more than one block. Balding-Nichols model: the 26 populations of 1000 Genomes phase 3 in
   their 5 continental groups (sample counts in the same proportions), ancestral allele frequencies
   ~ U(0.05, 0.95), each group's frequencies Beta-distributed around the ancestral one with F_group ~
   U(0.05, 0.10), each population's around its group's with F_pop ~ U(0.005, 0.02), genotypes
   Binomial(2, p), 0.5 % of the calls missing (-1); 22 contigs (variants in proportion to the GRCh37
   lengths, positions increasing). Seeded: a block's values depend on ``--seed`` and the block's index only.
2. **The cohort-wide rules, run by ``snakemake``** in a working folder of their own: train_cae, train_cec,
   cluster_baselines, k_sweep, clustering_figures (both label levels), classification_folds,
   train_classifier, evaluate_classifier, explain, cohort_summary. Nothing upstream runs: the cohort sheet
   names a VCF that does not exist and ``--allowed-rules`` names only these rules, so Snakemake takes the
   feature store (and the QC summary the generator writes: every generated variant "kept") as source files,
   and would stop at once with "missing input" if any upstream job were needed. ``--set-threads`` gives
   every rule all ``--cores``, so the jobs run one at a time and each is measured alone. The config is
   ``--configfile`` (default config/1kg.yaml, what a 1000 Genomes run uses) with every training capped at
   ``--epochs`` and explain's LightGBM at ``--lightgbm-trees`` rounds (both upper bounds of the work).
3. **Per rule**: wall seconds and ``max_rss`` from the rule's ``benchmark:`` TSV (summed / max over its
   jobs), and the kernel's peak RSS of each job (``VmHWM`` of the job's processes, read every 0.5 s while
   it runs). The second is the one compared with the budget: Snakemake samples ``max_rss`` every 0.5 s for
   the first 15 s of a job and then only every 30 s, so it can miss a short peak; VmHWM is the high-water
   mark the kernel keeps, missed only in the job's last half second. Rules without a ``benchmark:``
   (clustering_figures, classification_folds, cohort_summary) get their time from the same watcher. Also:
   bytes per genotype at each size, the marginal bytes per genotype (slope between the two largest sizes),
   and the projection to ``--project`` variants (4 M) along that slope.

A job that runs past ``--rule-timeout`` (30 min) or whose RSS passes ``--kill-above`` GiB is stopped by the
watcher and recorded as such (that is a result); Snakemake's ``--keep-going`` then runs the jobs that do not
depend on it.

Usage::

    .venv/bin/python benchmarks/genome_scale.py [--variants 250000,1000000] [--samples 2504] [--seed 1]
        [--cores 2] [--epochs 1] [--lightgbm-trees 50] [--configfile config/1kg.yaml] [--set KEY=VALUE]
        [--rules train_cae,...] [--out benchmarks/out/genome_scale] [--keep] [--tabulate-only]

    # smoke test (a few minutes on 2 idle cores):
    .venv/bin/python benchmarks/genome_scale.py --samples 300 --variants 2000,8000 --lightgbm-trees 5 \
        --out /tmp/gs
    # the sequence CAE over every variant, only the rules it changes:
    .venv/bin/python benchmarks/genome_scale.py --set representation.architecture=sequence \
        --set representation.max_variants=0 --rules train_cae,train_cec,train_classifier,evaluate_classifier \
        --out benchmarks/out/genome_scale_sequence

Writes, under ``--out``: ``runs/<size>.tsv`` and ``runs/<size>.json`` per size (kept: ``--tabulate-only``
rebuilds the table from them), ``genome_scale.tsv`` and ``genome_scale.md`` (printed), the Snakemake log of
each size. The working folder ``work/<size>`` (feature store included: 1.4 GB of Zarr and 0.27 GB of
variants.tsv per million variants at 2,504 samples) is removed after each size unless ``--keep``. Measured
with the defaults on 2 idle cores: generation 20 s (250 k) and 78 s (1 M), the rules 20 and 26 min (explain's
LightGBM on its 20,000 candidates is most of it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _config import add_config_arguments, load_config, set_key  # noqa: E402
from _snakebench import ROOT, SNAKEMAKE, collect_benchmarks, per_rule  # noqa: E402

from popcen.features import FeatureWriter, contig_variants  # noqa: E402
from popcen.io import FLOAT_FORMAT, write_table  # noqa: E402
from popcen.qc import KEPT, summary_table  # noqa: E402
from popcen.workflow_rules import workflow_rules  # noqa: E402

log = logging.getLogger("popcen")

# 1000 Genomes phase 3: population -> (continental group, samples); 2,504 in all.
POPULATIONS = {
    "ACB": ("AFR", 96), "ASW": ("AFR", 61), "ESN": ("AFR", 99), "GWD": ("AFR", 113), "LWK": ("AFR", 99),
    "MSL": ("AFR", 85), "YRI": ("AFR", 108),
    "CLM": ("AMR", 94), "MXL": ("AMR", 64), "PEL": ("AMR", 85), "PUR": ("AMR", 104),
    "CDX": ("EAS", 93), "CHB": ("EAS", 103), "CHS": ("EAS", 105), "JPT": ("EAS", 104), "KHV": ("EAS", 99),
    "CEU": ("EUR", 99), "FIN": ("EUR", 99), "GBR": ("EUR", 91), "IBS": ("EUR", 107), "TSI": ("EUR", 107),
    "BEB": ("SAS", 86), "GIH": ("SAS", 103), "ITU": ("SAS", 102), "PJL": ("SAS", 96), "STU": ("SAS", 102),
}  # fmt: skip
# GRCh37 lengths of chr1..chr22 (bp): variants are spread over the contigs in proportion.
CONTIG_LENGTHS = [
    249250621, 243199373, 198022430, 191154276, 180915260, 171115067, 159138663, 146364022, 141213431,
    135534747, 135006516, 133851895, 115169878, 107349540, 102531392, 90354753, 81195210, 78077248,
    59128983, 63025520, 48129895, 51304566,
]  # fmt: skip
CONTIGS = [f"chr{i}" for i in range(1, 23)]
F_GROUP = (0.05, 0.10)  # Balding-Nichols F of each continental group from the ancestral population
F_POP = (0.005, 0.02)  # ... and of each population from its group
MISSING = 0.005  # fraction of missing calls
LEVELS = ["pop", "super_pop"]
COHORT = "gs"

# The cohort-wide rules measured, in pipeline order, each with an output that asks for it (relative to
# results/<cohort>/; {level} over both label levels); Snakemake adds what a target needs (explain needs
# the classifier's CV, cohort_summary everything). Upstream rules (vcf_to_zarr .. assemble_features,
# qc_summary) are not allowed to run.
TARGETS = {
    "train_cae": ["representation/latent.tsv"],
    "train_cec": ["clustering/{level}/cec_assignments.tsv"],
    "cluster_baselines": ["clustering/{level}/metrics.tsv"],
    "k_sweep": ["clustering/k_choice.json"],
    "clustering_figures": ["clustering/{level}/tsne.png"],
    "classification_folds": ["classification/folds.tsv"],
    "train_classifier": ["classification/model.pt"],
    "evaluate_classifier": ["classification/cv/{level}/metrics.tsv"],
    "explain": ["explain/top_variants.tsv"],
    "cohort_summary": ["summary.html"],
}
RULES = list(TARGETS)
GIB = 1024**3
MIB = 1024**2
BUDGET_MIB = 8 * 1024  # DESIGN.md: every cohort-wide rule <= 8 GB at 2,504 x 1 M (SLURM's "8G" = 8 GiB)


def int_list(text: str) -> list[int]:
    try:
        values = sorted({int(float(v)) for v in text.replace("_", "").split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers") from None
    if not values or values[0] < 100:
        raise argparse.ArgumentTypeError(f"{text!r}: expected variant counts >= 100")
    return values


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--variants",
        type=int_list,
        default=[250_000, 1_000_000],
        help="variant counts, comma-separated (default 250000,1000000; two or more give the slope)",
    )
    p.add_argument("--samples", type=int, default=2504, help="samples (default 2,504, as 1000 Genomes)")
    p.add_argument("--seed", type=int, default=1, help="seed of the simulated cohort (default 1)")
    p.add_argument("--cores", type=int, default=2, help="Snakemake --cores, and every rule's threads")
    p.add_argument("--epochs", type=int, default=1, help="cap on every training's epochs (default 1)")
    p.add_argument(
        "--classifier-epochs",
        type=int,
        default=None,
        help="cap on the classifier's epochs (default --epochs). Its L-BFGS adds a curvature pair per "
        "iteration up to its history (popcen.training.LBFGS_HISTORY_BYTES): give it history + 2 epochs "
        "for the full footprint",
    )
    p.add_argument(
        "--lightgbm-trees", type=int, default=50, help="explain's LightGBM n_estimators (default 50)"
    )
    add_config_arguments(p)
    p.add_argument(
        "--rules",
        default=",".join(RULES),
        help="comma-separated rules to ask for (default all); what they need runs too, e.g. "
        "train_cae,train_cec,k_sweep,train_classifier,evaluate_classifier for a CAE setting",
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "genome_scale")
    p.add_argument("--keep", action="store_true", help="keep the working folders (feature stores included)")
    p.add_argument(
        "--rule-timeout", type=float, default=1800, help="seconds before a job is stopped (default 1800)"
    )
    p.add_argument(
        "--kill-above",
        type=float,
        default=None,
        help="GiB of RSS at which a job is stopped (default: 85 %% of this machine's memory)",
    )
    p.add_argument("--project", type=int, default=4_000_000, help="variants to project to (default 4 M)")
    p.add_argument(
        "--tabulate-only", action="store_true", help="run nothing: build the table from <out>/runs/"
    )
    args = p.parse_args(argv)
    args.rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    if unknown := sorted(set(args.rules) - set(RULES)):
        p.error(f"--rules: unknown {', '.join(unknown)}; choose from {', '.join(RULES)}")
    if args.samples < 2 * len(POPULATIONS):
        p.error(f"--samples must be >= {2 * len(POPULATIONS)} (2 per population)")
    for name in ("cores", "epochs", "lightgbm_trees"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.kill_above is None:
        args.kill_above = 0.85 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return args


def size_name(n_samples: int, n_variants: int) -> str:
    return f"n{n_samples}_v{n_variants}"


# ------------------------------------------------------------------------------------------ the cohort


def allocate(weights: np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    """``total`` split in proportion to ``weights`` (largest remainders), each part at least ``minimum``."""
    weights = np.asarray(weights, dtype=float)
    extra = total - minimum * len(weights)
    share = extra * weights / weights.sum()
    counts = np.floor(share).astype(int)
    counts[np.argsort(counts - share)[: extra - counts.sum()]] += 1
    return counts + minimum


def cohort_samples(n_samples: int, seed: int) -> pd.DataFrame:
    """sample, pop, super_pop of ``n_samples`` samples, populations in 1000 Genomes' proportions, in a
    seeded random order (as a panel interleaves them)."""
    pops = list(POPULATIONS)
    weights = np.array([POPULATIONS[p][1] for p in pops])
    counts = allocate(weights, n_samples)  # 2,504: exactly 1000 Genomes' counts
    if counts.min() < 2:  # a small cohort: every population keeps 2 samples for the stratified splits
        counts = allocate(weights, n_samples, minimum=2)
    pop = np.repeat(pops, counts)
    pop = pop[np.random.default_rng([seed, 0]).permutation(n_samples)]
    return pd.DataFrame(
        {
            "sample": [f"GS{i:05d}" for i in range(1, n_samples + 1)],
            "pop": pop,
            "super_pop": [POPULATIONS[p][0] for p in pop],
        }
    )


def balding_nichols(rng: np.random.Generator, p: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Allele frequencies drawn around ``p`` with drift ``f`` (Beta(p(1-F)/F, (1-p)(1-F)/F))."""
    p = np.clip(p, 1e-6, 1 - 1e-6)  # a Beta shape must be > 0
    scale = (1 - f) / f
    return rng.beta(p * scale, (1 - p) * scale)


@dataclass
class Design:
    """What does not change from block to block: the samples and the drift of each group and population."""

    samples: pd.DataFrame
    pop_of_sample: np.ndarray  # index into pops, per sample
    group_of_pop: np.ndarray  # index into groups, per population
    f_group: np.ndarray
    f_pop: np.ndarray
    contig_counts: np.ndarray  # variants per contig
    contig_ends: np.ndarray = field(init=False)

    def __post_init__(self):
        self.contig_ends = np.cumsum(self.contig_counts)


def make_design(n_samples: int, n_variants: int, seed: int) -> Design:
    samples = cohort_samples(n_samples, seed)
    pops = list(POPULATIONS)
    groups = sorted({g for g, _ in POPULATIONS.values()})
    rng = np.random.default_rng([seed, 1])
    return Design(
        samples=samples,
        pop_of_sample=np.array([pops.index(p) for p in samples["pop"]]),
        group_of_pop=np.array([groups.index(POPULATIONS[p][0]) for p in pops]),
        f_group=rng.uniform(*F_GROUP, len(groups)),
        f_pop=rng.uniform(*F_POP, len(pops)),
        contig_counts=allocate(np.array(CONTIG_LENGTHS, dtype=float), n_variants, minimum=1),
    )


def genotype_block(design: Design, start: int, size: int, seed: int, block_index: int):
    """(variant rows: record, chrom, pos, id, ref, alt; int8 (samples, size) alt counts) of variants
    ``start .. start + size``, drawn from the Balding-Nichols model with a generator of their own."""
    rng = np.random.default_rng([seed, 2, block_index])
    ancestral = rng.uniform(0.05, 0.95, size)
    group_p = balding_nichols(rng, ancestral[None, :], design.f_group[:, None])
    pop_p = balding_nichols(rng, group_p[design.group_of_pop], design.f_pop[:, None]).astype(np.float32)
    p = pop_p[design.pop_of_sample]  # (samples, size)
    # Binomial(2, p) from one uniform: alt count = [u > (1-p)^2] + [u > 1 - p^2] (inverse CDF).
    u = rng.random(p.shape, dtype=np.float32)
    gn = (u > (1 - p) ** 2).astype(np.int8)
    gn += u > 1 - p * p
    del u, p
    n_missing = rng.binomial(gn.size, MISSING)
    gn.reshape(-1)[rng.integers(0, gn.size, n_missing)] = -1

    index = np.arange(start, start + size)
    contig = np.searchsorted(design.contig_ends, index, side="right")
    first = design.contig_ends[contig] - design.contig_counts[contig]
    length = np.array(CONTIG_LENGTHS)[contig]
    # The j-th of m variants of a contig lies in the j-th of m equal bins: positions increase.
    pos = ((index - first + rng.random(size)) * length / design.contig_counts[contig]).astype(np.int64) + 1
    bases = np.array(list("ACGT"))
    ref = rng.integers(0, 4, size)
    alt = (ref + rng.integers(1, 4, size)) % 4
    rows = pd.DataFrame(
        {
            "record": index,
            "chrom": np.array(CONTIGS)[contig],
            "pos": pos,
            "id": ".",
            "ref": bases[ref],
            "alt": bases[alt],
        }
    )
    return rows, gn


def write_feature_store(results: Path, n_samples: int, n_variants: int, seed: int, block: int) -> dict:
    """The cohort's features under ``results`` (``features/``) and its QC summary (``qc/summary.tsv``);
    returns what was written (seconds, bytes on disk)."""
    t0 = time.perf_counter()
    design = make_design(n_samples, n_variants, seed)
    features = results / "features"
    features.mkdir(parents=True, exist_ok=True)
    writer = FeatureWriter(features / "genotypes.zarr", n_samples)
    groups = design.samples["pop"]
    with open(features / "variants.tsv", "w") as fh:
        for b, start in enumerate(range(0, n_variants, block)):
            rows, gn = genotype_block(design, start, min(block, n_variants - start), seed, b)
            writer.append(gn)
            table = contig_variants(rows, gn, groups)
            table.to_csv(fh, sep="\t", index=False, header=b == 0, float_format=FLOAT_FORMAT)
            if b % 10 == 0:
                log.info("generated %d / %d variants", start + len(rows), n_variants)
    write_table(design.samples, features / "samples.tsv")
    # The QC summary cohort_summary reads (rule qc_summary's table): every generated variant kept.
    qc = results / "qc"
    qc.mkdir(exist_ok=True)
    table = summary_table(
        {c: pd.Series([KEPT] * int(m)) for c, m in zip(CONTIGS, design.contig_counts, strict=True)},
        {c: int(m) for c, m in zip(CONTIGS, design.contig_counts, strict=True)},
    )
    write_table(table, qc / "summary.tsv", index=True)
    store_bytes = sum(f.stat().st_size for f in (features / "genotypes.zarr").rglob("*") if f.is_file())
    return {
        "generate_s": time.perf_counter() - t0,
        "store_bytes": store_bytes,
        "variants_tsv_bytes": (features / "variants.tsv").stat().st_size,
    }


# ------------------------------------------------------------------------------------------ the watcher


def vm_hwm(pid: int) -> int:
    """The kernel's peak resident set size of process ``pid`` (``VmHWM``), in bytes; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Job:
    rule: str
    pid: int
    start: float
    last_seen: float
    hwm: int = 0  # bytes: the job's processes' VmHWM, summed (exact for a single process)
    procs: int = 1  # the most processes seen in the job at once
    stopped: str = ""  # why the watcher stopped it ("timeout", "memory"), else ""


class JobWatcher(threading.Thread):
    """Polls the processes under Snakemake every ``interval`` s; each ``script:`` job (a process running
    one of Snakemake's ``.snakemake/scripts/tmp*.<script>.py``) is tracked with its children: peak RSS
    (VmHWM), start and end. Stops a job past ``timeout`` s or ``kill_bytes`` of RSS."""

    def __init__(self, root_pid: int, script_rules: dict[str, str], timeout: float, kill_bytes: float):
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(root_pid)
        self.script_rules = script_rules
        self.timeout, self.kill_bytes, self.interval = timeout, kill_bytes, 0.5
        self.jobs: dict[int, Job] = {}
        self.done = threading.Event()

    def _rule_of(self, proc) -> str | None:
        for arg in proc.cmdline():
            if "/.snakemake/scripts/" in arg and (m := re.search(r"tmp[^./]*\.(\w+)\.py$", arg)):
                return self.script_rules.get(m.group(1), m.group(1))
        return None

    def poll(self) -> None:
        import psutil

        now = time.time()
        try:
            procs = self.root.children(recursive=True)
        except psutil.Error:
            return
        pids = {p.pid for p in procs}
        for proc in procs:
            try:
                rule = self._rule_of(proc)
                # A job is the outermost process naming its script (a shell may start the interpreter).
                if rule is None or (proc.ppid() in pids and self._rule_of(proc.parent()) is not None):
                    continue
                job = self.jobs.get(proc.pid)
                if job is None:
                    job = self.jobs[proc.pid] = Job(rule, proc.pid, proc.create_time(), now)
                tree = [proc, *proc.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree)
                job.hwm = max(job.hwm, sum(vm_hwm(p.pid) for p in tree))
                job.procs = max(job.procs, len(tree))
                job.last_seen = now
                if not job.stopped and (now - job.start > self.timeout or rss > self.kill_bytes):
                    job.stopped = "timeout" if now - job.start > self.timeout else "memory"
                    log.warning("stopping %s (pid %d): %s", rule, proc.pid, job.stopped)
                    for p in reversed(tree):
                        p.kill()
            except psutil.Error:
                continue

    def run(self) -> None:
        while not self.done.is_set():
            self.poll()
            self.done.wait(self.interval)

    def table(self) -> pd.DataFrame:
        rows = [
            {
                "rule": j.rule,
                "pid": j.pid,
                "s": j.last_seen - j.start,
                "hwm_mib": j.hwm / MIB,
                "procs": j.procs,
                "stopped": j.stopped,
            }
            for j in self.jobs.values()
        ]
        return pd.DataFrame(rows, columns=["rule", "pid", "s", "hwm_mib", "procs", "stopped"])


# ------------------------------------------------------------------------------------------- one size


def bench_config(args) -> dict:
    """The config the rules run with: ``--configfile``/``--set`` (validated, defaults filled), every
    training capped at ``--epochs`` (the classifier at ``--classifier-epochs`` when given), explain's
    LightGBM at ``--lightgbm-trees``."""
    config = load_config(args.configfile, args.overrides)
    config["cohorts"], config["results"] = "config/cohorts.tsv", "results"
    e = args.epochs
    set_key(config, ["training", "max_epochs"], min(e, config["training"]["max_epochs"]))
    if "training" in config.get("representation", {}):
        set_key(config, ["representation", "training", "max_epochs"], e)
    clu = config["clustering"]
    set_key(config, ["clustering", "training", "max_epochs"], e)
    set_key(config, ["clustering", "k_sweep_epochs"], min(e, clu["k_sweep_epochs"]))
    for level, override in clu.get("levels", {}).items():
        if "training" in override:
            set_key(config, ["clustering", "levels", level, "training", "max_epochs"], e)
    ce = e if args.classifier_epochs is None else args.classifier_epochs
    set_key(config, ["classification", "max_epochs"], min(ce, config["classification"]["max_epochs"]))
    n_trees = min(args.lightgbm_trees, config["explain"]["lightgbm"]["n_estimators"])
    set_key(config, ["explain", "lightgbm", "n_estimators"], n_trees)
    return config


def make_work(work: Path, config: dict) -> None:
    """A Snakemake working folder: the config and a one-row cohort sheet whose VCF and panel do not exist
    (nothing upstream of the feature store may run)."""
    (work / "config").mkdir(parents=True, exist_ok=True)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sheet = pd.DataFrame(
        [
            {
                "name": COHORT,
                "vcf": "not_generated/{contig}.vcf.gz",
                "panel": "not_generated/panel.tsv",
                "contigs": f"{CONTIGS[0]}-{CONTIGS[-1]}",
                "label_columns": ",".join(LEVELS),
                "populations": "all",
                "predict_with": "",
            }
        ]
    )
    sheet.to_csv(work / "config" / "cohorts.tsv", sep="\t", index=False)


def failed_rules(log_text: str) -> list[str]:
    return sorted(set(re.findall(r"^Error in rule (\w+):", log_text, re.MULTILINE)))


def finished_jobs(log_text: str) -> dict[str, int]:
    """Jobs Snakemake reports finished, per rule."""
    return (
        pd.Series(re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)", log_text, re.MULTILINE))
        .value_counts()
        .to_dict()
    )


def run_size(args, config: dict, n_variants: int) -> tuple[pd.DataFrame, dict]:
    """Generate one cohort, run the rules on it; one row per rule, and the run's facts."""
    name = size_name(args.samples, n_variants)
    work = args.out / "work" / name
    results = work / "results" / COHORT
    marker = work / "generated.json"
    wanted = {"samples": args.samples, "variants": n_variants, "seed": args.seed, "version": 1}
    info = json.loads(marker.read_text()) if marker.exists() else {}
    if info.get("cohort") != wanted:
        shutil.rmtree(work, ignore_errors=True)
        log.info("%s: generating %d samples x %d variants", name, args.samples, n_variants)
        # Blocks of two Zarr chunks (8,192 variants each): appends stay chunk-aligned.
        info = {"cohort": wanted, **write_feature_store(results, args.samples, n_variants, args.seed, 16384)}
        marker.write_text(json.dumps(info))
        log.info(
            "%s: generated in %.0f s, %.2f GB on disk", name, info["generate_s"], info["store_bytes"] / 1e9
        )
    else:
        log.info("%s: reusing the generated feature store", name)
    # A fresh measurement: remove what an earlier run of the rules left.
    for sub in (
        "representation",
        "clustering",
        "classification",
        "explain",
        "benchmarks",
        "logs",
        "checkpoints",
    ):
        shutil.rmtree(results / sub, ignore_errors=True)
    (results / "summary.html").unlink(missing_ok=True)
    make_work(work, config)

    targets = [
        f"results/{COHORT}/{t.format(level=level)}"
        for rule in args.rules
        for t in TARGETS[rule]
        for level in (LEVELS if "{level}" in t else [None])
    ]
    cmd = [
        SNAKEMAKE,
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(work),
        "--cores",
        str(args.cores),
        "--keep-going",
        "--allowed-rules",
        *RULES,
        "--set-threads",
        *[f"{r}={args.cores}" for r in RULES],
        "--",
        *targets,
    ]
    script_rules = {
        Path(r.script).stem: r.name for r in workflow_rules(ROOT).values() if r.script and r.name in RULES
    }
    log_path = args.out / f"snakemake.{name}.log"
    log.info("%s: snakemake (log %s)", name, log_path)
    t0 = time.perf_counter()
    with open(log_path, "w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=work)
        watcher = JobWatcher(proc.pid, script_rules, args.rule_timeout, args.kill_above * GIB)
        watcher.start()
        rc = proc.wait()
        watcher.done.set()
        watcher.join()
    seconds = time.perf_counter() - t0
    log_text = log_path.read_text()
    failed, finished = failed_rules(log_text), finished_jobs(log_text)
    log.info("%s: snakemake exit %d in %.0f s%s", name, rc, seconds, f", failed: {failed}" if failed else "")

    jobs = watcher.table()
    jobs.to_csv(args.out / "runs" / f"{name}.jobs.tsv", sep="\t", index=False)
    bench = collect_benchmarks(work)
    bench = per_rule(bench[bench["rule"].isin(RULES)], ["rule"]) if not bench.empty else bench
    watched = (
        jobs.groupby("rule")
        .agg(
            watch_s=("s", "sum"),
            hwm_mib=("hwm_mib", "max"),
            watched_jobs=("s", "size"),
            stopped=("stopped", lambda s: ",".join(sorted({x for x in s if x}))),
        )
        .reset_index()
    )
    rows = []
    for rule in RULES:
        b = bench[bench["rule"] == rule] if not bench.empty else bench
        w = watched[watched["rule"] == rule]
        status = "ok"
        if not w.empty and w["stopped"].iloc[0]:
            status = f"stopped ({w['stopped'].iloc[0]})"
        elif rule in failed:
            status = "failed"
        elif not finished.get(rule):
            status = "not run"
        rows.append(
            {
                "size": name,
                "samples": args.samples,
                "variants": n_variants,
                "rule": rule,
                "status": status,
                "jobs": int(finished.get(rule, 0)),
                # benchmark: TSV when the rule has one, else the watcher's job lifetimes
                "s": float(b["s"].iloc[0])
                if not b.empty
                else (float(w["watch_s"].iloc[0]) if not w.empty else np.nan),
                "max_rss_mib": float(b["max_rss"].iloc[0]) if not b.empty else np.nan,
                "hwm_mib": float(w["hwm_mib"].iloc[0]) if not w.empty else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    facts = {
        **info,
        "size": name,
        "snakemake_s": seconds,
        "snakemake_rc": rc,
        "failed": failed,
        "config": {
            "epochs": args.epochs,
            "classifier_epochs": config["classification"]["max_epochs"],
            "lightgbm_trees": config["explain"]["lightgbm"]["n_estimators"],
            "representation": config["representation"],
            "configfile": [str(p) for p in (args.configfile or [])] or ["config/1kg.yaml"],
            "set": args.overrides,
        },
        "cores": args.cores,
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GIB:.0f} GiB",
        "commit": git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    table.to_csv(args.out / "runs" / f"{name}.tsv", sep="\t", index=False)
    (args.out / "runs" / f"{name}.json").write_text(json.dumps(facts, indent=1, default=str))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return table, facts


def git_commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


# ------------------------------------------------------------------------------------------- the table


def projection(table: pd.DataFrame, column: str, target: int) -> pd.DataFrame:
    """Per rule: the slope of ``column`` between the two largest sizes it ran at, and its value at
    ``target`` variants along that line."""
    rows = []
    for rule, t in table[table["status"] == "ok"].groupby("rule", sort=False):
        t = t.dropna(subset=[column]).sort_values("variants")
        if len(t) < 2:
            rows.append({"rule": rule, f"{column}_slope": np.nan, f"{column}_proj": np.nan})
            continue
        (v1, y1), (v2, y2) = t[["variants", column]].to_numpy()[-2:]
        # Growth only: a negative slope between two small sizes is noise, taken as flat.
        slope = max((y2 - y1) / (v2 - v1), 0.0)
        rows.append({"rule": rule, f"{column}_slope": slope, f"{column}_proj": y2 + slope * (target - v2)})
    return pd.DataFrame(rows, columns=["rule", f"{column}_slope", f"{column}_proj"])


def fmt(value, spec: str) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)


def budget_verdict(row) -> str:
    """Whether a rule's job stayed within the 8 GiB budget at a size."""
    if row.status == "stopped (memory)":
        return "**no** (stopped)"
    if row.status != "ok":
        return row.status
    if row.hwm_mib != row.hwm_mib:
        return "not sampled"
    return "yes" if row.hwm_mib <= BUDGET_MIB else "**no**"


def markdown(table: pd.DataFrame, facts: list[dict], target: int) -> str:
    sizes = table[["size", "samples", "variants"]].drop_duplicates().sort_values("variants")
    proj = projection(table, "hwm_mib", target).merge(projection(table, "s", target), on="rule", how="outer")
    lines = []
    f = facts[-1]
    lines.append(
        f"Commit `{f['commit']}`, {f['date']} UTC, {f['machine']}, `--cores {f['cores']}`; config "
        f"{', '.join(f['config']['configfile'])}{' with ' + ', '.join(f['config']['set']) if f['config']['set'] else ''}, "
        f"training capped at {f['config']['epochs']} epoch(s) (the classifier at "
        f"{f['config'].get('classifier_epochs', f['config']['epochs'])}), "
        f"LightGBM at {f['config']['lightgbm_trees']} rounds. "
        f"representation: `{json.dumps(f['config']['representation'])}`."
    )
    lines.append("")
    for fa in facts:
        lines.append(
            f"- {fa['size']}: generated in {fa['generate_s']:.0f} s ({fa['store_bytes'] / 1e9:.2f} GB of Zarr, "
            f"{fa['variants_tsv_bytes'] / 1e6:.0f} MB variants.tsv); the rules in {fa['snakemake_s'] / 60:.1f} min "
            f"(snakemake exit {fa['snakemake_rc']}{', failed: ' + ', '.join(fa['failed']) if fa['failed'] else ''})"
        )
    lines.append("")
    head = ["rule"]
    for s in sizes.itertuples():
        v = f"{s.variants / 1e6:g} M" if s.variants >= 100_000 else f"{s.variants:,}"
        head += [f"s @ {v}", f"peak RSS MiB @ {v}", f"(max_rss) @ {v}", f"B/genotype @ {v}"]
    head += [
        "≤ 8 GiB @ largest",
        "marginal B/genotype",
        f"peak RSS GiB @ {target / 1e6:g} M",
        f"s @ {target / 1e6:g} M",
    ]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join([":--"] + ["--:"] * (len(head) - 1)) + "|")
    largest = sizes["size"].iloc[-1]
    for rule in RULES:
        if (table.loc[table["rule"] == rule, "status"] == "not run").all():
            continue  # not asked for (--rules) nor needed
        row = [rule]
        for s in sizes.itertuples():
            r = table[(table["size"] == s.size) & (table["rule"] == rule)]
            if r.empty:
                row += ["–"] * 4
                continue
            r = r.iloc[0]
            note = "" if r.status == "ok" else f" ({r.status})"
            row += [
                fmt(r.s, ".0f") + note,
                fmt(r.hwm_mib, ",.0f"),
                fmt(r.max_rss_mib, ",.0f"),
                fmt(r.hwm_mib * MIB / (r.samples * r.variants), ".2f"),
            ]
        p = proj[proj["rule"] == rule]
        p = p.iloc[0] if not p.empty else None
        samples = int(sizes["samples"].iloc[-1])
        last = table[(table["size"] == largest) & (table["rule"] == rule)]
        row.append(budget_verdict(last.iloc[0]) if not last.empty else "–")
        row += [
            fmt(p["hwm_mib_slope"] * MIB / samples if p is not None else np.nan, ".2f"),
            fmt(p["hwm_mib_proj"] / 1024 if p is not None else np.nan, ".1f"),
            fmt(p["s_proj"] if p is not None else np.nan, ".0f"),
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        "Peak RSS: the kernel's high-water mark (VmHWM) of each job's processes, the largest over a rule's "
        "jobs (– : every job ended within one 0.5 s poll); (max_rss): Snakemake's sampled figure from the rule's `benchmark:` TSV (– where the rule has "
        "none). s: wall seconds summed over a rule's jobs (benchmark TSV, else the watcher). B/genotype: "
        "peak RSS / (samples × variants); marginal: the slope between the two largest sizes / samples "
        f"(a negative slope, noise between small sizes, is taken as 0). Projections to {target:,} variants "
        "follow that slope. Budget: 8 GiB (DESIGN.md)."
    )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args.out = args.out.resolve()
    (args.out / "runs").mkdir(parents=True, exist_ok=True)
    if not args.tabulate_only:
        config = bench_config(args)
        for n_variants in args.variants:
            run_size(args, config, n_variants)
    tables, facts = [], []
    for n_variants in args.variants:
        name = size_name(args.samples, n_variants)
        path = args.out / "runs" / f"{name}.tsv"
        if not path.exists():
            log.warning("no run of %s under %s", name, args.out / "runs")
            continue
        tables.append(pd.read_csv(path, sep="\t", keep_default_na=True))
        facts.append(json.loads((args.out / "runs" / f"{name}.json").read_text()))
    if not tables:
        raise SystemExit("nothing to tabulate")
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(args.out / "genome_scale.tsv", sep="\t", index=False)
    md = markdown(table, facts, args.project)
    (args.out / "genome_scale.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
