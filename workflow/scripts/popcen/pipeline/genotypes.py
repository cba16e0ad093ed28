"""Rules of rules/genotypes.smk: [PLINK ->] VCF -> Zarr -> variant QC -> LD pruning (per cohort × contig) ->
features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError
from popcen.features import FeatureWriter, contig_variants
from popcen.io import read_samples, read_table, read_variants, write_table
from popcen.ld import ld_prune as prune
from popcen.ld import random_subset
from popcen.panel import fine_level, read_panel, select_samples
from popcen.plink import FileSet, memory_mb
from popcen.plink import plink_to_vcf as convert_plink
from popcen.plots.qc import plot_qc_summary
from popcen.qc import KEPT, summarise, summary_table, why_none_kept
from popcen.qc import variant_qc as qc_records
from popcen.qc import write_table as write_qc_table
from popcen.vcf import vcf_to_zarr as convert
from popcen.zarrio import KeptAltCounts, read_kept_alt_counts


def plink_to_vcf(input, output, params, wildcards, threads, log):
    """One contig of a cohort's PLINK file set (``params.kind``, ``params.prefix``; one set for all contigs
    when ``params.whole``) -> a BGZF VCF for vcf_to_zarr, by plink2 (:mod:`popcen.plink`: the set's checks,
    REF/ALT and chromosome names)."""
    file_set = FileSet(params.kind, params.prefix)
    info = convert_plink(
        file_set,
        wildcards.contig,
        output.vcf,
        whole=params.whole,
        threads=threads,
        memory=memory_mb(params.get("mem_mb")),
    )
    log.info(
        "%s, contig %s -> %s (%d samples; %d variants in the set, on %d contig(s))",
        file_set.name,
        wildcards.contig,
        output.vcf,
        len(info.samples),
        info.n_variants,
        len(info.contigs),
    )


def vcf_to_zarr(input, output, params, wildcards, threads, log):
    """One cohort × contig VCF -> scikit-allel Zarr store (``params.region``: the contig of a VCF holding
    several, read through its tabix index; None for a per-contig VCF). Every record must be on the job's
    contig (``wildcards.contig``)."""
    header = convert(
        input.vcf, output.zarr, region=params.region, threads=threads, contig=wildcards.get("contig")
    )
    log.info(
        "%s -> %s (%d samples, %s)",
        input.vcf,
        output.zarr,
        len(header.samples),
        "BGZF" if header.bgzf else "plain gzip/text",
    )


def variant_qc(input, output, params, wildcards, threads, log):
    """Choose the cohort's samples, then keep or drop (with a reason) every record; the kept records' alt
    counts go to a small Zarr group for ld_prune and assemble_features."""
    import zarr

    labels = params.label_columns
    panel = read_panel(input.panel, labels)
    store = zarr.open_group(str(input.zarr), mode="r")
    selection = select_samples(
        store["samples"][:],
        panel,
        fine_level(labels),
        params.populations,
        vcf_path=input.zarr,
        panel_path=input.panel,
    )
    log.info("samples: %s", selection.describe())
    kept = KeptAltCounts(output.alt_counts, selection.samples["sample"].tolist())
    table = qc_records(
        store,
        selection.vcf_index,
        params.min_call_rate,
        params.min_mac,
        params.min_maf,
        kept_genotypes=kept,
    )
    write_qc_table(table, output.variants)
    write_table(selection.samples, output.samples)
    for status, n in summarise(table).items():
        log.info("records %-20s %d", status, n)


def ld_prune(input, output, params, wildcards, threads, log):
    """Windowed r² pruning of the QC-kept variants of one contig (+ optional random subset)."""
    p = params
    qc = read_variants(input.variants)
    samples = read_samples(input.samples)
    rows, gn = read_kept_alt_counts(input.alt_counts, samples["sample"].tolist())
    if not np.array_equal(rows, np.flatnonzero(qc["status"].to_numpy() == KEPT)):
        raise PopcenInputError(
            input.alt_counts,
            f"does not hold the records {input.variants} keeps (written by another variant_qc run: rerun variant_qc)",
        )
    keep = prune(gn, p.window, p.step, p.r2, p.iterations)
    log.info(
        "pruning (window %d, step %d, r2 %.3g, %d iterations): %d of %d variants kept",
        p.window,
        p.step,
        p.r2,
        p.iterations,
        keep.sum(),
        len(keep),
    )
    if p.fraction < 1:
        kept_idx = np.flatnonzero(keep)
        sub = random_subset(kept_idx.size, p.fraction, p.seed, key=wildcards.contig)
        keep[:] = False
        keep[kept_idx[sub]] = True
        log.info("random subset of %.3g: %d variants kept", p.fraction, keep.sum())
    out = qc.iloc[rows[keep]][["chrom", "pos", "id", "ref", "alt"]].copy()
    out.insert(0, "record", rows[keep])
    write_table(out, output.kept)


def qc_summary(input, output, params, wildcards, threads, log):
    """Records kept / dropped per reason and contig, and variants left after pruning; table and figure."""
    contigs = params.contigs
    statuses = {
        contig: read_table(path, usecols=["status"])["status"]
        for contig, path in zip(contigs, input.variants, strict=True)
    }
    pruned = {contig: len(read_table(path)) for contig, path in zip(contigs, input.kept, strict=True)}
    table = summary_table(statuses, pruned)
    write_table(table, output.table, index=True)
    plot_qc_summary(table.drop(index="total"), output.plot)
    log.info("\n%s", table.to_string())


def assemble_features(input, output, params, wildcards, threads, log):
    """Concatenate the pruned variants of every contig into the cohort's features.

    A feature set with fewer than 2 samples or no variant means nothing to any later rule: it is refused
    here, with the reason (``input.qc``, the QC tables, tell why no variant is left), and not at train_cae.
    """
    samples = read_samples(input.samples[0])
    names = samples["sample"].tolist()
    for other in input.samples[1:]:
        if read_samples(other)["sample"].tolist() != names:
            raise PopcenInputError(
                other,
                f"kept samples differ from {input.samples[0]}: every contig's VCF must hold the same samples",
            )
    if len(names) < 2:
        raise PopcenInputError(
            input.samples[0],
            f"{len(names)} sample kept ({', '.join(names) or 'none'}): a feature set needs at least 2; "
            "check that the panel names the VCF's samples and that the cohort's populations hold more",
        )
    kept_tables = [read_variants(path) for path in input.kept]
    if not sum(len(kept) for kept in kept_tables):
        qc_tables = input.get("qc") or []
        counts = sum(summarise(read_table(path, usecols=["status"])) for path in qc_tables)
        why = why_none_kept(counts) if len(qc_tables) else "see the QC tables"
        raise PopcenInputError(
            Path((qc_tables or input.kept)[0]).parent,
            f"no variant left for the features of {len(input.kept)} contig(s): {why}",
        )
    fine = fine_level(params.label_columns)
    groups = samples[fine] if fine else None
    writer = FeatureWriter(output.genotypes, len(samples))
    tables = []
    for counts_path, kept_path, kept in zip(input.alt_counts, input.kept, kept_tables, strict=True):
        # The QC-kept alt counts are (variants, samples); features are (samples, variants).
        _, gn = read_kept_alt_counts(counts_path, names, kept["record"].to_numpy())
        block = gn.T
        writer.append(block)
        tables.append(contig_variants(kept, block, groups))
        log.info("%s: %d variants", kept_path, len(kept))
    variants = pd.concat(tables, ignore_index=True)
    write_table(variants, output.variants)
    write_table(samples, output.samples)
    log.info("features: %d samples x %d variants -> %s", len(samples), len(variants), output.genotypes)
