"""Benchmark: k-mer counting and the gene-overlap permutation test at hg19 map scale, against the original.

Peers, side by side in the same run:

* **k-mer counting** of 41,624 introgressed + 41,624 control sequences of 10,000 bp (the hg19 map's unique
  intervals, truncated like the analysis; synthetic iid sequence, which times the same as real):
  ``popcen.introgression.kmers.count_kmers`` (integer codes -> sparse CSR) against the original approach
  (each sequence turned into a space-joined string of its k-mers, then scikit-learn ``CountVectorizer``).
  The original is timed on ``--orig-sequences`` of them (it needs ~6 bytes per k-mer of text) and
  extrapolated linearly (CountVectorizer is linear in the number of tokens); both give identical counts
  on that subsample (checked).
* **1,000 permutations** of the gene-overlap test on the real hg19 map (``Akey_intr_coords.bed``), hg19
  contig sizes and GENCODE v19 genes: ``popcen.introgression.permutation.null_distribution`` (one
  ``bedtools shuffle -chrom -excl -noOverlapping -seed`` per set, gene overlaps counted in numpy) against
  the original approach (a Python rejection loop per control set: draw a start, check it against every
  introgressed interval of the chromosome, retry; then ``bedtools intersect -u`` per set). The original is
  timed on ``--orig-intervals`` intervals of one set and extrapolated linearly to a whole set (the cost per
  interval does not depend on how many were drawn before) and to 1,000 sets.

Usage::

    .venv/bin/python benchmarks/introgression.py [--data ../shared/data/neanderthal] [--threads 2]
        [--orig-sequences 2000] [--orig-intervals 300] [--permutations 1000] [--out benchmarks/out/introgression]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from popcen.introgression import kmers, permutation  # noqa: E402
from popcen.introgression.intervals import (  # noqa: E402
    read_bed3,
    read_genes,
    to_reference_contigs,
    write_bed,
    write_genome_file,
)

N_UNIQUE_INTERVALS = 41_624
SEQ_LEN = 10_000
K = 5


def original_kmer_counts(seqs: list[bytes], k: int):
    """The original: k-mer 'sentences' as strings, counted by CountVectorizer (lower-cases tokens)."""
    from sklearn.feature_extraction.text import CountVectorizer

    texts = [" ".join(s[i : i + k] for i in range(len(s) - k + 1)) for s in (x.decode() for x in seqs)]
    cv = CountVectorizer()
    return cv.fit_transform(texts), cv.get_feature_names_out()


def bench_kmers(n_orig: int, rng) -> list[dict]:
    n_total = 2 * N_UNIQUE_INTERVALS
    alphabet = np.frombuffer(b"ACGT", np.uint8)
    seqs = [alphabet[rng.integers(0, 4, SEQ_LEN)].tobytes() for _ in range(n_total)]
    t = time.perf_counter()
    ours = kmers.count_kmers(seqs, K)
    t_ours = time.perf_counter() - t

    sub = seqs[:n_orig]
    t = time.perf_counter()
    orig, names = original_kmer_counts(sub, K)
    t_orig_sub = time.perf_counter() - t
    # Same numbers: the original's columns (lower-case k-mers) against ours on the same subsample.
    cols = [kmers.kmer_code(w.upper()) for w in names]
    assert (ours[:n_orig][:, cols] != orig).nnz == 0, "k-mer counts differ from CountVectorizer"
    t_orig = t_orig_sub * n_total / n_orig
    return [
        {
            "task": f"k-mer counts, k={K}, {n_total:,} x {SEQ_LEN:,} bp",
            "method": "popcen count_kmers (sparse)",
            "measured_on": f"{n_total:,} sequences",
            "seconds": t_ours,
            "seconds_full_scale": t_ours,
        },
        {
            "task": f"k-mer counts, k={K}, {n_total:,} x {SEQ_LEN:,} bp",
            "method": "original: joined strings + CountVectorizer",
            "measured_on": f"{n_orig:,} sequences ({t_orig_sub:.1f} s), x{n_total / n_orig:.1f} linear",
            "seconds": t_orig_sub,
            "seconds_full_scale": t_orig,
        },
    ]


def original_control_set(regions: pd.DataFrame, sizes: dict[str, int], n: int, seed: int) -> float:
    """Seconds per interval of the original rejection loop (plain Python lists, faster than its pandas)."""
    rnd = random.Random(seed)
    by_chrom = {
        c: list(zip(g["start"].tolist(), g["end"].tolist(), strict=True)) for c, g in regions.groupby("chrom")
    }
    rows = regions.sample(n=n, random_state=seed)
    t = time.perf_counter()
    for chrom, length in zip(rows["chrom"], rows["end"] - rows["start"], strict=True):
        intervals = by_chrom[chrom]
        while True:
            s = rnd.randint(0, sizes[chrom] - length)
            e = s + length
            if not any(s < b and a < e for a, b in intervals):
                break
    return (time.perf_counter() - t) / n


def bench_permutations(data: Path, n_perm: int, n_orig: int, threads: int) -> list[dict]:
    sizes_all = pd.read_csv(data / "hg19.chrom.sizes", sep="\t", header=None, names=["chrom", "size"])
    sizes = {
        c: int(s) for c, s in zip(sizes_all["chrom"], sizes_all["size"], strict=True) if "_" not in c
    }  # primary assembly
    raw = read_bed3(data / "Akey_intr_coords.bed").drop_duplicates()
    regions, _ = to_reference_contigs(raw, sizes, "map")
    genes, _ = to_reference_contigs(read_genes(data / "gencode.v19.genes.hg19.bed"), sizes, "genes")
    loci = permutation.loci_for_shuffling(regions)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_genome_file(sizes, tmp / "genome.txt")
        write_bed(loci, tmp / "loci.bed")
        write_bed(loci.sort_values(["chrom", "start"]), tmp / "excl.bed")
        write_bed(genes, tmp / "genes.bed", ("chrom", "start", "end", "strand", "gene_id"))
        t = time.perf_counter()
        null = permutation.null_distribution(
            loci,
            tmp / "loci.bed",
            tmp / "genome.txt",
            tmp / "excl.bed",
            genes,
            sizes,
            n_perm,
            seed=1,
            threads=threads,
        )
        t_ours = time.perf_counter() - t

        per_interval = original_control_set(regions, sizes, n_orig, seed=1)
        # ... then the original counted each set with bedtools intersect: time that on a real-size set.
        shuffled = subprocess.run(
            [
                "bedtools",
                "shuffle",
                "-i",
                str(tmp / "loci.bed"),
                "-g",
                str(tmp / "genome.txt"),
                "-chrom",
                "-seed",
                "1",
            ],
            capture_output=True,
            check=True,
        ).stdout
        (tmp / "set.bed").write_bytes(shuffled)
        t = time.perf_counter()
        subprocess.run(
            f"bedtools intersect -u -a {tmp / 'genes.bed'} -b {tmp / 'set.bed'} | wc -l",
            shell=True,
            check=True,
            capture_output=True,
        )
        t_intersect = time.perf_counter() - t
    t_orig_set = per_interval * len(regions) + t_intersect
    label = f"{n_perm:,} permutations, {len(regions):,} intervals ({len(loci):,} loci), {len(genes):,} genes"
    return [
        {
            "task": label,
            "method": f"popcen null_distribution (bedtools shuffle + numpy, {threads} threads)",
            "measured_on": f"{n_perm:,} sets (null mean {null.mean():.0f} genes)",
            "seconds": t_ours,
            "seconds_full_scale": t_ours,
        },
        {
            "task": label,
            "method": "original: Python rejection loop per set + bedtools intersect",
            "measured_on": f"{n_orig} intervals ({per_interval * 1e3:.2f} ms each) x {len(regions):,} x {n_perm:,} sets",
            "seconds": per_interval * n_orig + t_intersect,
            "seconds_full_scale": t_orig_set * n_perm,
        },
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "neanderthal")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--orig-sequences", type=int, default=2000)
    ap.add_argument("--orig-intervals", type=int, default=300)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "introgression")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = bench_permutations(args.data, args.permutations, args.orig_intervals, args.threads)
    rows += bench_kmers(args.orig_sequences, rng)
    df = pd.DataFrame(rows)
    for _, g in df.groupby("task", sort=False):
        df.loc[g.index, "ratio_vs_popcen"] = g["seconds_full_scale"] / g["seconds_full_scale"].iloc[0]
    args.out.mkdir(parents=True, exist_ok=True)
    table = df.to_markdown(index=False, floatfmt=".3g")
    (args.out / "introgression.md").write_text(table + "\n")
    df.to_csv(args.out / "introgression.tsv", sep="\t", index=False)
    print(table)


if __name__ == "__main__":
    main()
