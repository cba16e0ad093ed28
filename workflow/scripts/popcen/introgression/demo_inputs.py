"""Synthetic inputs for the demo: a random reference, an introgression map and a gene table.

There is NO biological signal in them: every base is drawn independently and uniformly, regions and genes
are placed uniformly at random. A correct analysis therefore finds chance-level accuracy and no gene
enrichment; the demo exercises every step, it does not reproduce the published result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def synthetic_inputs(settings: dict, seed: int) -> tuple[dict[str, bytes], pd.DataFrame, pd.DataFrame]:
    """(contigs, map, genes) of the demo from the ``introgression.synthetic`` settings, drawn in this order
    from one generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    contigs = synthetic_reference(rng, settings["contigs"], settings["contig_length"])
    sizes = {c: len(s) for c, s in contigs.items()}
    regions = synthetic_map(rng, sizes, settings["regions"], settings["min_region"], settings["max_region"])
    return contigs, regions, synthetic_genes(rng, sizes, settings["genes"])


def synthetic_reference(
    rng: np.random.Generator, n_contigs: int, length: int, gaps_per_contig: int = 2, gap_length: int = 5_000
) -> dict[str, bytes]:
    """Contigs ``chr1..chrN`` of iid uniform A/C/G/T, with a few runs of N (assembly gaps) and a masked start."""
    contigs = {}
    for i in range(1, n_contigs + 1):
        seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, length)].copy()
        seq[:gap_length] = ord("N")  # like real assemblies: telomeric N
        for start in rng.integers(gap_length, length - gap_length, gaps_per_contig):
            seq[start : start + gap_length] = ord("N")
        contigs[f"chr{i}"] = seq.tobytes()
    return contigs


def write_fasta(contigs: dict[str, bytes], path: str | Path, width: int = 60) -> None:
    with open(path, "wb") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name}\n".encode())
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + b"\n")


def synthetic_map(
    rng: np.random.Generator, sizes: dict[str, int], n_regions: int, min_len: int, max_len: int
) -> pd.DataFrame:
    """Random intervals; one in five is repeated with a shifted end, as haplotype maps overlap heavily.

    Lengths are log-uniform in ``[min_len, max_len]``; a few intervals run past their contig end so that
    the dropping of such rows is exercised.
    """
    chroms = rng.choice(list(sizes), n_regions)
    lengths = np.exp(rng.uniform(np.log(min_len), np.log(max_len), n_regions)).astype(np.int64)
    starts = np.array([rng.integers(0, sizes[c] - n) for c, n in zip(chroms, lengths, strict=True)])
    df = pd.DataFrame({"chrom": chroms, "start": starts, "end": starts + lengths})
    twins = df.sample(frac=0.2, random_state=int(rng.integers(1 << 31)))
    twins = twins.assign(end=twins["end"] + rng.integers(1, min_len, len(twins)))
    past = df.sample(n=2, random_state=int(rng.integers(1 << 31)))
    past_end = past["chrom"].map(sizes) + 100
    past = past.assign(start=past_end - (past["end"] - past["start"]), end=past_end)
    duplicates = df.head(5)  # the real map lists the same haplotype interval once per individual
    return pd.concat([df, twins, past, duplicates], ignore_index=True)


def synthetic_genes(rng: np.random.Generator, sizes: dict[str, int], n_genes: int) -> pd.DataFrame:
    """Random genes (BED7: chrom, start, end, strand, id, symbol, biotype), 1 kb to 60 kb long."""
    chroms = rng.choice(list(sizes), n_genes)
    lengths = np.exp(rng.uniform(np.log(1_000), np.log(60_000), n_genes)).astype(np.int64)
    starts = np.array([rng.integers(0, sizes[c] - n) for c, n in zip(chroms, lengths, strict=True)])
    return pd.DataFrame(
        {
            "chrom": chroms,
            "start": starts,
            "end": starts + lengths,
            "strand": rng.choice(["+", "-"], n_genes),
            "gene_id": [f"DEMO{i:05d}" for i in range(n_genes)],
            "symbol": [f"GENE{i}" for i in range(n_genes)],
            "biotype": rng.choice(["protein_coding", "lincRNA"], n_genes, p=[0.8, 0.2]),
        }
    )
