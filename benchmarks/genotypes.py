"""Benchmark: popcen's genotype spine (VCF -> Zarr -> QC -> LD pruning) against plink2, bcftools as the floor.

On one simulated chr22-scale cohort (popcen.demo: stdpopsim OutOfAfrica_4J17, 4 populations), in ONE run and
interleaved repeat by repeat, times:

* ``popcen``  the rules' own functions (``popcen.pipeline.genotypes``), in their order and with their file
              hand-offs: vcf_to_zarr -> variant_qc (samples chosen from the panel, table written as
              .tsv.gz, the kept records' alt counts as a Zarr group) -> ld_prune (window/step in variants,
              r², iterations);
* ``plink2``  ``--vcf X --make-pgen`` (conversion), then one ``--pfile`` call with the same QC thresholds
              (``--snps-only just-acgt --max-alleles 2 --rm-dup exclude-all --geno --mac --maf``) and
              ``--indep-pairwise <window> <step> <r2>`` (QC + pruning), both ``--threads N``;
* ``bcftools`` ``view -Ou -o /dev/null``: decompressing and parsing the VCF, the floor of any conversion.

It reports medians over the repeats and the ratios popcen / plink2 and popcen / bcftools (ratios, not absolute
seconds, are what carries over on a shared machine), and compares the kept variant sets by position: after QC,
and after pruning (Jaccard index), with diagnostics that explain the differences (linked pairs each method
leaves under popcen's window rule, mean MAF of the variants each keeps).

Usage::

    .venv/bin/python benchmarks/genotypes.py [--samples-per-pop 250] [--length 24000000] [--repeats 2]
        [--threads 2] [--out benchmarks/out/genotypes]

The simulated VCF is cached under ``--out`` (keyed on model, size and seed); the markdown table is written to
``<out>/genotypes.md`` and printed.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from popcen.demo import sample_names, sampled_populations, simulate_contig, write_vcf  # noqa: E402
from popcen.io import read_samples, read_variants  # noqa: E402
from popcen.ld import ld_prune  # noqa: E402
from popcen.pipeline import call, genotypes  # noqa: E402
from popcen.qc import KEPT, summarise  # noqa: E402
from popcen.zarrio import read_alt_counts  # noqa: E402

log = logging.getLogger("popcen")
MODEL = "OutOfAfrica_4J17"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples-per-pop", type=int, default=250)
    p.add_argument("--length", type=int, default=24_000_000, help="bp simulated")
    p.add_argument("--contig", default="chr22")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="threads for plink2 and popcen's vcf_to_zarr")
    p.add_argument("--min-call-rate", type=float, default=0.95)
    p.add_argument("--min-mac", type=int, default=2)
    p.add_argument("--min-maf", type=float, default=0.01)
    p.add_argument("--window", type=int, default=200)
    p.add_argument("--step", type=int, default=50)
    p.add_argument("--r2", type=float, default=0.2)
    p.add_argument("--iterations", type=int, default=2)
    p.add_argument("--min-variants", type=int, default=300_000, help="refuse a smaller simulated VCF")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "genotypes")
    return p.parse_args(argv)


def cohort_vcf(args) -> tuple[Path, Path]:
    """The cached simulated VCF (+ tabix index) and panel; simulated on first use."""
    stem = f"{MODEL}.{args.contig}.{args.length}bp.{args.samples_per_pop}x4.seed{args.seed}"
    vcf, panel = args.out / f"{stem}.vcf.gz", args.out / f"{stem}.panel"
    if not (vcf.exists() and Path(str(vcf) + ".tbi").exists()):
        t0 = time.perf_counter()
        ts = simulate_contig(MODEL, args.contig, args.length, args.samples_per_pop, args.seed)
        write_vcf(ts, args.contig, vcf)
        log.info("simulated and wrote %s in %.0f s", vcf, time.perf_counter() - t0)
    if not panel.exists():
        sample_names(sampled_populations(MODEL), 0, args.samples_per_pop).to_csv(panel, sep="\t", index=False)
    return vcf, panel


def timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


# ---------------------------------------------------------------------------------------------- popcen


def popcen_convert(vcf: Path, work: Path, threads: int) -> Path:
    """Rule vcf_to_zarr."""
    store = work / "store.zarr"
    call(
        genotypes.vcf_to_zarr,
        input={"vcf": vcf},
        output={"zarr": store},
        params={"region": None},
        threads=threads,
    )
    return store


def popcen_qc(store: Path, panel: Path, work: Path, args) -> tuple[Path, Path, Path]:
    """Rule variant_qc: all panel samples (label columns pop, super_pop; every population); the QC table,
    the kept samples and the kept records' alt counts (the hand-off to pruning)."""
    output = {
        "variants": work / "variants.tsv.gz",
        "samples": work / "samples.tsv",
        "alt_counts": work / "alt_counts.zarr",
    }
    params = {
        "label_columns": ["pop", "super_pop"],
        "populations": None,
        "min_call_rate": args.min_call_rate,
        "min_mac": args.min_mac,
        "min_maf": args.min_maf,
    }
    call(genotypes.variant_qc, input={"zarr": store, "panel": panel}, output=output, params=params)
    return output["variants"], output["samples"], output["alt_counts"]


def popcen_prune(alt_counts: Path, variants: Path, samples: Path, work: Path, args) -> Path:
    """Rule ld_prune (fraction 1: no random subset)."""
    kept = work / "pruned.tsv"
    params = {
        "window": args.window,
        "step": args.step,
        "r2": args.r2,
        "iterations": args.iterations,
        "fraction": 1.0,
        "seed": 1,
    }
    call(
        genotypes.ld_prune,
        input={"alt_counts": alt_counts, "variants": variants, "samples": samples},
        output={"kept": kept},
        params=params,
        wildcards={"contig": args.contig},
    )
    return kept


# ---------------------------------------------------------------------------------------------- plink2


def plink2_convert(vcf: Path, work: Path, threads: int) -> Path:
    prefix = work / "plink"
    # IDs '@:#' (chrom:pos): the simulated VCF has '.' IDs, and --indep-pairwise needs unique IDs; records
    # sharing a position then share an ID, which --rm-dup exclude-all drops, as popcen's duplicate_position.
    run(
        [
            "plink2",
            "--vcf",
            str(vcf),
            "--set-all-var-ids",
            "@:#",
            "--make-pgen",
            "--threads",
            str(threads),
            "--memory",
            "4000",
            "--out",
            str(prefix),
        ]
    )
    return prefix


def plink2_flags(args) -> list[str]:
    return [
        "--snps-only",
        "just-acgt",
        "--max-alleles",
        "2",
        "--rm-dup",
        "exclude-all",
        "--geno",
        f"{1 - args.min_call_rate:.6g}",
        "--mac",
        str(args.min_mac),
        "--maf",
        f"{args.min_maf:.6g}",
        "--indep-pairwise",
        str(args.window),
        str(args.step),
        f"{args.r2:.6g}",
    ]


def plink2_qc_prune(prefix: Path, work: Path, args) -> Path:
    out = work / "plink_pruned"
    # --write-snplist lists the variants that passed QC (what --indep-pairwise saw), for the QC comparison.
    run(
        [
            "plink2",
            "--pfile",
            str(prefix),
            *plink2_flags(args),
            "--write-snplist",
            "--threads",
            str(args.threads),
            "--memory",
            "4000",
            "--out",
            str(out),
        ]
    )
    return out


def bcftools_floor(vcf: Path) -> None:
    run(["bcftools", "view", "-Ou", "-o", "/dev/null", str(vcf)])


# ---------------------------------------------------------------------------------------------- compare


def positions_of_ids(path: Path) -> set[int]:
    return {int(line.rsplit(":", 1)[1]) for line in path.read_text().split()}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def linked_pairs_left(gn: np.ndarray, kept: np.ndarray, window: int, step: int, r2: float) -> int:
    """Pairs of kept variants with r² > r2 that share one of popcen's windows (``window`` QC-kept variants,
    starting every ``step``): zero for popcen by construction; for plink2 it counts what its own rule
    (greedy removal, higher-MAF variants preferred) leaves under ours."""
    from popcen.ld import BitGenotypes, pair_r2

    bits = BitGenotypes(gn)
    pairs: set[tuple[int, int]] = set()
    for start in range(0, len(gn), step):
        idx = start + np.flatnonzero(kept[start : start + window])
        if idx.size > 1:
            i, j = np.nonzero(np.triu(pair_r2(bits, idx, idx) > r2, 1))
            pairs.update(zip(idx[i].tolist(), idx[j].tolist(), strict=True))
    return len(pairs)


def compare(work: Path, plink_out: Path, args) -> dict:
    import zarr

    qc = read_variants(work / "variants.tsv.gz")
    popcen_qc_pos = set(qc.loc[qc["status"] == KEPT, "pos"].tolist())
    plink_qc_pos = positions_of_ids(Path(f"{plink_out}.snplist"))
    popcen_pruned = set(read_variants(work / "pruned.tsv")["pos"].tolist())
    plink_pruned = positions_of_ids(Path(f"{plink_out}.prune.in"))

    # Diagnostics on the QC-kept variants both tools saw.
    rows = np.flatnonzero(qc["status"].to_numpy() == KEPT)
    pos = qc["pos"].to_numpy()[rows]
    maf = qc["maf"].to_numpy()[rows]
    names = read_samples(work / "samples.tsv")["sample"].tolist()
    gn = read_alt_counts(zarr.open_group(str(work / "store.zarr"), mode="r"), rows, names)
    in_popcen = np.isin(pos, list(popcen_pruned))
    in_plink = np.isin(pos, list(plink_pruned))
    one_pass = ld_prune(gn, args.window, args.step, args.r2, 1)
    return {
        "records": len(qc),
        "qc_status": summarise(qc).to_dict(),
        "qc_popcen": len(popcen_qc_pos),
        "qc_plink2": len(plink_qc_pos),
        "qc_jaccard": jaccard(popcen_qc_pos, plink_qc_pos),
        "pruned_popcen": len(popcen_pruned),
        "pruned_plink2": len(plink_pruned),
        "both": len(popcen_pruned & plink_pruned),
        "jaccard": jaccard(popcen_pruned, plink_pruned),
        "jaccard_one_pass": jaccard(set(pos[one_pass].tolist()), plink_pruned),
        "pruned_one_pass": int(one_pass.sum()),
        "residual_popcen": linked_pairs_left(gn, in_popcen, args.window, args.step, args.r2),
        "residual_plink2": linked_pairs_left(gn, in_plink, args.window, args.step, args.r2),
        "mean_maf_qc": float(maf.mean()),
        "mean_maf_popcen": float(maf[in_popcen].mean()),
        "mean_maf_plink2": float(maf[in_plink].mean()),
        "mean_maf_only_popcen": float(maf[in_popcen & ~in_plink].mean()),
        "mean_maf_only_plink2": float(maf[in_plink & ~in_popcen].mean()),
    }


# ---------------------------------------------------------------------------------------------- main


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    vcf, panel = cohort_vcf(args)
    work = args.out / "work"
    times: dict[str, list[float]] = {
        k: []
        for k in (
            "bcftools",
            "plink2_convert",
            "plink2_qc_prune",
            "popcen_convert",
            "popcen_qc",
            "popcen_prune",
        )
    }
    for rep in range(args.repeats):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        # Alternate which tool goes first, so that neither always gets the warm page cache.
        order = ["bcftools", "plink2", "popcen"] if rep % 2 == 0 else ["popcen", "plink2", "bcftools"]
        for tool in order:
            if tool == "bcftools":
                times["bcftools"].append(timed(bcftools_floor, vcf)[0])
            elif tool == "plink2":
                t, prefix = timed(plink2_convert, vcf, work, args.threads)
                times["plink2_convert"].append(t)
                t, plink_out = timed(plink2_qc_prune, prefix, work, args)
                times["plink2_qc_prune"].append(t)
            else:
                t, store = timed(popcen_convert, vcf, work, args.threads)
                times["popcen_convert"].append(t)
                t, (variants, samples, alt_counts) = timed(popcen_qc, store, panel, work, args)
                times["popcen_qc"].append(t)
                t, _ = timed(popcen_prune, alt_counts, variants, samples, work, args)
                times["popcen_prune"].append(t)
        log.info("repeat %d: %s", rep + 1, {k: round(v[-1], 1) for k, v in times.items()})
    med = {k: statistics.median(v) for k, v in times.items()}
    cmp = compare(work, plink_out, args)
    if cmp["records"] < args.min_variants:
        raise SystemExit(f"only {cmp['records']} records (< {args.min_variants}): raise --length")
    report = render(args, vcf, med, times, cmp)
    (args.out / "genotypes.md").write_text(report)
    print(report)


def render(args, vcf: Path, med: dict, times: dict, cmp: dict) -> str:
    pc = med["popcen_convert"]
    pqp = med["popcen_qc"] + med["popcen_prune"]
    rows = [
        ("conversion (VCF -> Zarr / pgen)", pc, med["plink2_convert"]),
        ("QC + pruning", pqp, med["plink2_qc_prune"]),
        ("total", pc + pqp, med["plink2_convert"] + med["plink2_qc_prune"]),
    ]
    floor = med["bcftools"]
    lines = [
        f"Input: {vcf.name}: {cmp['records']:,} records × {4 * args.samples_per_pop} samples; "
        f"{args.repeats} repeats, medians in seconds; popcen QC {med['popcen_qc']:.1f} s + pruning "
        f"{med['popcen_prune']:.1f} s.",
        "",
        "| step | popcen s | plink2 s | bcftools view s | popcen / plink2 | popcen / bcftools |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, p, q in rows:
        b = floor if name != "QC + pruning" else float("nan")
        lines.append(
            f"| {name} | {p:.1f} | {q:.1f} | {b:.1f} | {p / q:.2f} | "
            f"{(p / b) if b == b else float('nan'):.2f} |".replace("| nan |", "| – |")
        )
    lines += [
        "",
        f"All times: {', '.join(f'{k} {[round(x, 1) for x in v]}' for k, v in times.items())}",
        "",
        f"QC: popcen keeps {cmp['qc_popcen']:,}, plink2 {cmp['qc_plink2']:,} (Jaccard {cmp['qc_jaccard']:.4f}); "
        f"popcen statuses: {', '.join(f'{k} {v:,}' for k, v in cmp['qc_status'].items() if v)}.",
        "",
        f"Pruning (window {args.window} variants, step {args.step}, r² > {args.r2}): popcen keeps "
        f"{cmp['pruned_popcen']:,} ({args.iterations} passes), plink2 {cmp['pruned_plink2']:,}, both "
        f"{cmp['both']:,}: **Jaccard {cmp['jaccard']:.3f}** (popcen with 1 pass: {cmp['pruned_one_pass']:,} kept, "
        f"Jaccard {cmp['jaccard_one_pass']:.3f}).",
        f"Kept pairs with r² > {args.r2} sharing a window (popcen's rule): popcen {cmp['residual_popcen']:,}, "
        f"plink2 {cmp['residual_plink2']:,}. Mean MAF: QC-kept {cmp['mean_maf_qc']:.3f}, popcen-pruned "
        f"{cmp['mean_maf_popcen']:.3f}, plink2-pruned {cmp['mean_maf_plink2']:.3f}; kept by popcen only "
        f"{cmp['mean_maf_only_popcen']:.3f}, by plink2 only {cmp['mean_maf_only_plink2']:.3f}.",
        "",
        f"plink2 QC + pruning flags: `{' '.join(plink2_flags(args))} --threads {args.threads}`",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
