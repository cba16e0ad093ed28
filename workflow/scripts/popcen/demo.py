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
    "YRI": "AFR",
    "CEU": "EUR",
    "CHB": "EAS",
    "JPT": "EAS",
    "AFR": "AFR",
    "EUR": "EUR",
    "ASIA": "EAS",
    "ADMIX": "AMR",
}


def contig_seed(seed: int, contig: str) -> int:
    """A seed for one contig that does not depend on which other contigs are simulated."""
    digest = hashlib.sha256(f"{seed}:{contig}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31 - 1) + 1


def sampled_populations(model_id: str) -> list[str]:
    import stdpopsim

    model = stdpopsim.get_species("HomSap").get_demographic_model(model_id)
    return [p.name for p in model.populations if p.allow_samples and p.name in SUPER_POPULATION]


def sample_names(populations: list[str], first: int, count: int) -> pd.DataFrame:
    """Panel rows (sample, pop, super_pop) for individuals ``first+1 .. first+count`` of each population,
    named as :func:`individual_names` names them."""
    rows = [
        (f"{pop}_{i + 1:04d}", pop, SUPER_POPULATION[pop])
        for pop in populations
        for i in range(first, first + count)
    ]
    return pd.DataFrame(rows, columns=["sample", "pop", "super_pop"])


def panels(
    model_id: str, per_population: int, heldout_per_population: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Panels of the training cohort (the first ``per_population`` of each population) and of the held-out
    'new' cohort (the next ``heldout_per_population``)."""
    pops = sampled_populations(model_id)
    return sample_names(pops, 0, per_population), sample_names(pops, per_population, heldout_per_population)


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
    log.info(
        "%s: %d samples, %d sites, %d mutations", contig, ts.num_individuals, ts.num_sites, ts.num_mutations
    )
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


def split_individuals(ts, per_population: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the training individuals (the first ``per_population`` of each population, as numbered by
    :func:`individual_names`) and of the held-out ones (the rest)."""
    number = np.array([int(name.rsplit("_", 1)[1]) for name in individual_names(ts)])
    return np.flatnonzero(number <= per_population), np.flatnonzero(number > per_population)


def write_vcf(ts, contig: str, out_vcf: str | Path, individuals=None, transform=None) -> None:
    """Write a BGZF VCF + tabix index; sites sit on a discrete genome, shifted to 1-based positions.

    ``individuals``: ids of the individuals to write (default all); ``transform``: a function applied to
    each record line, returning the line to write or None to drop it.
    """
    out_vcf = Path(out_vcf)
    tmp = out_vcf.with_suffix(".tmp.gz")
    names = individual_names(ts)
    if individuals is None:
        individuals = np.arange(ts.num_individuals)
    with subprocess.Popen(["bgzip", "-c"], stdin=subprocess.PIPE, stdout=open(tmp, "wb")) as proc:
        text = _TextSink(proc.stdin, transform)
        ts.write_vcf(
            text,
            contig_id=contig,
            individuals=individuals,
            individual_names=[names[i] for i in individuals],
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

    def __init__(self, raw, transform=None):
        self.raw = raw
        self.pending = ""
        self.transform = transform

    def _lines(self, lines):
        for line in lines:
            line = _drop_id(line)
            if self.transform is not None and line and not line.startswith("#"):
                line = self.transform(line)
            if line is not None:
                yield line + "\n"

    def write(self, s: str) -> int:
        self.pending += s
        if "\n" in self.pending:
            *lines, self.pending = self.pending.split("\n")
            self.raw.write("".join(self._lines(lines)).encode())
        return len(s)

    def flush(self) -> None:
        if self.pending:
            self.raw.write("".join(self._lines([self.pending])).encode())
            self.pending = ""


def _drop_id(line: str) -> str:
    if line.startswith("#") or not line:
        return line
    chrom, pos, _id, rest = line.split("\t", 3)
    return f"{chrom}\t{pos}\t.\t{rest}"


_SWAP_CALLS = str.maketrans("01", "10")


def new_cohort_transform(drop_fraction: float, swap_fraction: float, seed: int):
    """Make the held-out cohort look like an independently produced VCF: a fraction of the records
    missing, and a fraction of the bi-allelic ones with REF and ALT swapped (genotypes recoded to match),
    as happens when a cohort is called against another allele convention."""
    rng = np.random.default_rng(seed)

    def transform(line: str) -> str | None:
        u = rng.random()
        if u < drop_fraction:
            return None
        fields = line.split("\t")
        if u < drop_fraction + swap_fraction and "," not in fields[4]:
            fields[3], fields[4] = fields[4], fields[3]
            fields[9:] = [call.translate(_SWAP_CALLS) for call in fields[9:]]
        return "\t".join(fields)

    return transform
