"""The built-in demo cohort, simulated with stdpopsim/msprime from a published human demographic model.

Nothing is downloaded: contigs use the species' mean recombination rate (no genetic map). Every contig is
simulated independently from its own seed (derived from the config seed and the contig name), so that each
contig is its own job and the result does not depend on which contigs are asked for.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("popcen")

# Super-population of each population in the HomSap models we support (1000 Genomes codes).
SUPER_POPULATION = {
    "YRI": "AFR", "CEU": "EUR", "CHB": "EAS", "JPT": "EAS", "AFR": "AFR", "EUR": "EUR",
    "ASIA": "EAS", "ADMIX": "AMR",
}


def contig_seed(seed: int, contig: str) -> int:
    """A seed for one contig that does not depend on which other contigs are simulated."""
    digest = hashlib.sha256(f"{seed}:{contig}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31 - 1) + 1


def sampled_populations(model_id: str) -> list[str]:
    import stdpopsim

    model = stdpopsim.get_species("HomSap").get_demographic_model(model_id)
    return [p.name for p in model.populations if p.allow_samples and p.name in SUPER_POPULATION]


def sample_names(populations: list[str], per_population: int) -> pd.DataFrame:
    """Panel of the demo: sample, pop, super_pop, in the order the simulation lays individuals out."""
    rows = [
        (f"{pop}_{i + 1:04d}", pop, SUPER_POPULATION[pop])
        for pop in populations
        for i in range(per_population)
    ]
    return pd.DataFrame(rows, columns=["sample", "pop", "super_pop"])


def write_panel(path: str | Path, model_id: str, per_population: int) -> pd.DataFrame:
    panel = sample_names(sampled_populations(model_id), per_population)
    panel.to_csv(path, sep="\t", index=False)
    return panel


def simulate_contig(model_id: str, contig: str, length: int, per_population: int, seed: int):
    """Simulate one contig; returns a tskit TreeSequence with one individual per demo sample."""
    import msprime
    import stdpopsim

    species = stdpopsim.get_species("HomSap")
    model = species.get_demographic_model(model_id)
    # left/right restrict the simulation to the first `length` bp; genetic_map=None -> mean rate.
    sp_contig = species.get_contig(contig, left=0, right=length, mutation_rate=model.mutation_rate)
    pops = sampled_populations(model_id)
    samples = {pop: per_population for pop in pops}
    engine = stdpopsim.get_engine("msprime")
    s = contig_seed(seed, contig)
    ts = engine.simulate(model, sp_contig, samples, seed=s)
    # stdpopsim places mutations on a discrete genome, so a few sites are multi-allelic: the QC drops
    # and counts them, as it would on real data.
    log.info("%s: %d samples, %d sites, %d mutations", contig, ts.num_individuals, ts.num_sites, ts.num_mutations)
    log.info("msprime %s, stdpopsim %s, seed %d", msprime.__version__, stdpopsim.__version__, s)
    return ts


def individual_names(ts) -> list[str]:
    """Name each simulated individual after its population (YRI_0001, ...), as the panel does."""
    counts: dict[str, int] = {}
    names = []
    for ind in ts.individuals():
        pop = ts.population(ts.node(ind.nodes[0]).population).metadata["name"]
        counts[pop] = counts.get(pop, 0) + 1
        names.append(f"{pop}_{counts[pop]:04d}")
    return names


def write_vcf(ts, contig: str, out_vcf: str | Path) -> None:
    """Write a BGZF VCF + tabix index; sites sit on a discrete genome, shifted to 1-based positions."""
    out_vcf = Path(out_vcf)
    tmp = out_vcf.with_suffix(".tmp.gz")
    with subprocess.Popen(["bgzip", "-c"], stdin=subprocess.PIPE, stdout=open(tmp, "wb")) as proc:
        text = _TextSink(proc.stdin)
        ts.write_vcf(
            text,
            contig_id=contig,
            individual_names=individual_names(ts),
            position_transform=lambda x: np.asarray(x, dtype=np.int64) + 1,
        )
        text.flush()
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError("bgzip failed")
    tmp.replace(out_vcf)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(out_vcf)], check=True)


class _TextSink:
    """tskit prints str pieces, bgzip's stdin wants bytes. tskit's IDs are per-contig site indexes, so they
    are replaced by '.' (missing), as in many real VCFs; the variant table then names sites chrom:pos:ref:alt.
    """

    def __init__(self, raw):
        self.raw = raw
        self.pending = ""

    def write(self, s: str) -> int:
        self.pending += s
        if "\n" in self.pending:
            *lines, self.pending = self.pending.split("\n")
            self.raw.write("".join(_drop_id(line) + "\n" for line in lines).encode())
        return len(s)

    def flush(self) -> None:
        if self.pending:
            self.raw.write(_drop_id(self.pending).encode())
            self.pending = ""


def _drop_id(line: str) -> str:
    if line.startswith("#") or not line:
        return line
    chrom, pos, _id, rest = line.split("\t", 3)
    return f"{chrom}\t{pos}\t.\t{rest}"
