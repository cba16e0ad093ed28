"""Match a new cohort's variants to a trained model's variants by chrom/pos/ref/alt.

A model trained on cohort A predicts cohort B only on A's variants, in A's order, with A's alt allele
counted. For every training variant we look for a record of B at the same position and classify the
pair:

``exact``          same ref and alt: B's alt counts are used as they are;
``swapped``        B's ref is A's alt and vice versa: counts flip, ``x -> ploidy - x``;
``strand``         B's alleles are the complement of A's (reported on the other strand): used as is;
``strand_swapped`` complement and swapped: counts flip;
``missing``        no usable record: every sample gets the training mean.

Strand-ambiguous SNVs (A/T and C/G) look the same after complementing, so a swap cannot be told from a
strand flip. Choice (config ``strand_ambiguous``): ``exact`` (default) keeps them only when ref and alt
match exactly -- VCFs on the same reference build report the forward strand, so an exact match is the
same allele -- and treats every other orientation as missing; ``drop`` treats them as missing always
(for data of unknown strand, e.g. arrays). Chromosome names are compared without a ``chr`` prefix
(``chr1`` == ``1``, ``chrM`` == ``MT``).

A build check (:func:`build_evidence`, :func:`build_problem`): on the same reference build most of the
model's positions on the contigs both cohorts hold are in the new cohort, and at a shared position the two
alleles are the same pair (directly, swapped or strand-flipped). When the positions are shared but their
alleles mostly are not, or almost no position is shared although the contigs are, the cohort is probably
on another build; the overlap error says so (or a warning, when the overlap still passes), with the counts.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError

log = logging.getLogger("popcen")

# Fewer matched variants with a frequency in both cohorts than this: no allele-frequency correlation is
# judged (too few to tell a swap or another build from sampling noise).
AF_MIN_VARIANTS = 20

COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")
STATUSES = ("exact", "swapped", "strand", "strand_swapped", "missing")
FLIPPED = ("swapped", "strand_swapped")
# Preference when B holds several records at one position (e.g. a split multi-allelic site).
_RANK = {s: k for k, s in enumerate(STATUSES)}

# The build check. Fewer shared positions than this: their alleles are not judged (too few to tell).
BUILD_MIN_POSITIONS = 20
# Below this fraction of shared positions whose alleles agree: another build? (On one build nearly all do;
# at positions that coincide by chance between two builds, about a third: a random SNV has 6 allele pairs,
# 2 of which agree with a given one in some orientation.)
BUILD_MIN_AGREEMENT = 0.5
# Fewer of the model's positions on the shared contigs found than this: another build? ...
BUILD_NEAR_ZERO = 0.05
# ... unless at least BUILD_MIN_POSITIONS shared positions agree this well (a sparse array on one build).
BUILD_SAME_AGREEMENT = 0.9


def normalise_chrom(name) -> str:
    """``chr1``/``Chr1``/``1`` -> ``1``; ``chrM``/``M``/``MT`` -> ``MT``."""
    name = str(name)
    if name[:3].lower() == "chr":
        name = name[3:]
    return "MT" if name.upper() in ("M", "MT") else name


def complement(allele: str) -> str:
    return str(allele).translate(COMPLEMENT)


def is_strand_ambiguous(ref: str, alt: str) -> bool:
    """True for A/T and C/G SNVs (the complement of the pair is the same pair)."""
    return len(ref) == 1 and len(alt) == 1 and complement(ref).upper() == alt.upper()


def pair_status(
    train_ref: str, train_alt: str, new_ref: str, new_alt: str, strand_ambiguous: str = "exact"
) -> str:
    """Status of one (training, new) record pair at the same position; see the module docstring."""
    tr, ta, nr, na = (str(a).upper() for a in (train_ref, train_alt, new_ref, new_alt))
    if is_strand_ambiguous(tr, ta):
        if strand_ambiguous == "exact" and (nr, na) == (tr, ta):
            return "exact"
        return "missing"
    if (nr, na) == (tr, ta):
        return "exact"
    if (nr, na) == (ta, tr):
        return "swapped"
    cr, ca = complement(tr), complement(ta)
    if (nr, na) == (cr, ca):
        return "strand"
    if (nr, na) == (ca, cr):
        return "strand_swapped"
    return "missing"


def match_variants(train: pd.DataFrame, new: pd.DataFrame, strand_ambiguous: str = "exact") -> pd.DataFrame:
    """For every training variant, the row of ``new`` that carries it and how.

    Parameters
    ----------
    train, new : DataFrame
        Columns ``chrom, pos, ref, alt`` (``new`` in the order of its genotype columns).
    strand_ambiguous : {"exact", "drop"}
        Handling of A/T and C/G SNVs (module docstring).

    Returns
    -------
    DataFrame
        One row per training variant, in training order: ``new_index`` (row of ``new``, -1 when
        missing), ``status`` (one of :data:`STATUSES`) and ``flip`` (True when counts flip); for the build
        check (:func:`build_evidence`) ``chrom`` (the training contig, normalised), ``contig_found``
        (``new`` has records on it), ``position_found`` (``new`` has a record at its position) and
        ``alleles_agree`` (one of those records has the same two alleles in some orientation, strand-ambiguous
        pairs included, whatever ``strand_ambiguous`` makes of them).
    """
    if strand_ambiguous not in ("exact", "drop"):
        raise ValueError(f"strand_ambiguous must be 'exact' or 'drop', not {strand_ambiguous!r}")
    left = pd.DataFrame(
        {
            "train_index": np.arange(len(train)),
            "chrom": train["chrom"].map(normalise_chrom).to_numpy(),
            "pos": train["pos"].astype(np.int64).to_numpy(),
            "train_ref": train["ref"].astype(str).to_numpy(),
            "train_alt": train["alt"].astype(str).to_numpy(),
        }
    )
    right = pd.DataFrame(
        {
            "new_index": np.arange(len(new)),
            "chrom": new["chrom"].map(normalise_chrom).to_numpy(),
            "pos": new["pos"].astype(np.int64).to_numpy(),
            "new_ref": new["ref"].astype(str).to_numpy(),
            "new_alt": new["alt"].astype(str).to_numpy(),
        }
    )
    pairs = left.merge(right, on=["chrom", "pos"], how="inner")
    result = pd.DataFrame({"new_index": np.full(len(train), -1, dtype=np.int64), "status": "missing"})
    evidence = pd.DataFrame(
        {
            "chrom": left["chrom"].to_numpy(),
            "contig_found": left["chrom"].isin(set(right["chrom"])).to_numpy(),
            "position_found": np.zeros(len(train), dtype=bool),
            "alleles_agree": np.zeros(len(train), dtype=bool),
        }
    )
    if len(pairs):
        evidence.loc[pairs.train_index.unique(), "position_found"] = True
        agree = [
            alleles_agree(a, b, c, d)
            for a, b, c, d in zip(pairs.train_ref, pairs.train_alt, pairs.new_ref, pairs.new_alt, strict=True)
        ]
        evidence.loc[pairs.train_index[np.asarray(agree, dtype=bool)].unique(), "alleles_agree"] = True
        pairs["status"] = [
            pair_status(a, b, c, d, strand_ambiguous)
            for a, b, c, d in zip(pairs.train_ref, pairs.train_alt, pairs.new_ref, pairs.new_alt, strict=True)
        ]
        pairs = pairs[pairs.status != "missing"].copy()
        pairs["rank"] = pairs.status.map(_RANK)
        best = pairs.sort_values(["train_index", "rank", "new_index"]).drop_duplicates("train_index")
        result.loc[best.train_index.to_numpy(), "new_index"] = best.new_index.to_numpy()
        result.loc[best.train_index.to_numpy(), "status"] = best.status.to_numpy()
    result["flip"] = result.status.isin(FLIPPED)
    return pd.concat([result, evidence], axis=1)


def alleles_agree(train_ref: str, train_alt: str, new_ref: str, new_alt: str) -> bool:
    """Whether two records at one position carry the same two alleles, in any order, on either strand."""
    tr, ta, nr, na = (str(a).upper() for a in (train_ref, train_alt, new_ref, new_alt))
    return {nr, na} in ({tr, ta}, {complement(tr), complement(ta)})


def build_evidence(match: pd.DataFrame) -> dict:
    """The counts the build check reads, from :func:`match_variants`'s table: the model's contigs
    (``contigs_model``) and those the new cohort also holds (``contigs_shared``), the model's variants on
    them (``variants_on_shared_contigs``), of which the new cohort has the position (``positions_shared``),
    of which with the same two alleles (``alleles_agreeing``). Empty for a table without these columns."""
    if "position_found" not in match.columns:
        return {}
    on_shared = match["contig_found"].to_numpy(dtype=bool)
    return {
        "contigs_model": int(match["chrom"].nunique()),
        "contigs_shared": int(match["chrom"][on_shared].nunique()),
        "variants_on_shared_contigs": int(on_shared.sum()),
        "positions_shared": int(match["position_found"].sum()),
        "alleles_agreeing": int((match["position_found"] & match["alleles_agree"]).sum()),
    }


def build_problem(evidence: dict) -> str | None:
    """ "different genome build?" with the evidence, when :func:`build_evidence`'s counts point that way;
    else None. Two signs: at least :data:`BUILD_MIN_POSITIONS` shared positions, fewer than
    :data:`BUILD_MIN_AGREEMENT` of them with the same alleles; or, on contigs both cohorts hold (at least
    :data:`BUILD_MIN_POSITIONS` model variants there), fewer than :data:`BUILD_NEAR_ZERO` of the positions
    shared, unless the shared positions' alleles agree as one build's do (:data:`BUILD_SAME_AGREEMENT`)."""
    if not evidence:
        return None
    shared, agreeing = evidence["positions_shared"], evidence["alleles_agreeing"]
    on_contigs = evidence["variants_on_shared_contigs"]
    agreement = agreeing / shared if shared else 0.0
    alleles_differ = shared >= BUILD_MIN_POSITIONS and agreement < BUILD_MIN_AGREEMENT
    positions_differ = (
        on_contigs >= BUILD_MIN_POSITIONS
        and shared < BUILD_NEAR_ZERO * on_contigs
        and not (shared >= BUILD_MIN_POSITIONS and agreement >= BUILD_SAME_AGREEMENT)
    )
    if not (alleles_differ or positions_differ):
        return None
    return (
        f"different genome build? {build_counts(evidence)}; on one build most positions are shared and "
        "their alleles match: lift the cohort over to the model cohort's build (e.g. CrossMap, "
        "bcftools +liftover) or compare the VCF's ##reference and ##contig lengths with the model's"
    )


def build_counts(evidence: dict) -> str:
    """The build check's counts in words."""
    shared, agreeing = evidence["positions_shared"], evidence["alleles_agreeing"]
    on_contigs = evidence["variants_on_shared_contigs"]
    share = f" ({shared / on_contigs:.1%})" if on_contigs else ""
    agree = f" ({agreeing / shared:.0%})" if shared else ""
    return (
        f"contigs shared: {evidence['contigs_shared']} of the model's {evidence['contigs_model']}; "
        f"positions shared: {shared} of the model's {on_contigs} variants on them{share}, "
        f"of which allele-matching (directly, swapped or strand-flipped): {agreeing}{agree}"
    )


def overlap_report(match: pd.DataFrame) -> dict:
    """Counts per status and the fraction of training variants found (``overlap``), and the build check's
    counts (:func:`build_evidence`)."""
    counts = match.status.value_counts()
    report = {s: int(counts.get(s, 0)) for s in STATUSES}
    report["n_training_variants"] = len(match)
    report["matched"] = len(match) - report["missing"]
    report["overlap"] = report["matched"] / len(match) if len(match) else 0.0
    report.update(build_evidence(match))
    return report


def check_overlap(match: pd.DataFrame, min_overlap: float, source) -> dict:
    """:func:`overlap_report`, raising :class:`PopcenInputError` when the overlap is below ``min_overlap``.

    The build check (:func:`build_problem`) adds "different genome build?" and its counts to that error;
    when the overlap passes, the same line is logged as a warning and kept as ``build_warning`` in the
    report."""
    report = overlap_report(match)
    problem = build_problem(report)
    if report["overlap"] < min_overlap:
        if problem is None and report.get("contigs_model") and not report["contigs_shared"]:
            names = sorted(match["chrom"].unique())
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            problem = f"no contig in common with the model's ({shown}): check the chromosome names"
        elif problem is None:
            counts = f"; {build_counts(report)}" if "positions_shared" in report else ""
            problem = f"check the reference build and chromosome names{counts}"
        raise PopcenInputError(
            source,
            f"only {report['matched']} of {report['n_training_variants']} training variants "
            f"({report['overlap']:.1%}) are found in this cohort, below classification.min_overlap = "
            f"{min_overlap:.0%}; {problem}; or lower min_overlap",
        )
    if problem:
        log.warning("%s: %s", source, problem)
        report["build_warning"] = problem
    return report


def align_counts(new_counts, match: pd.DataFrame, ploidy: int = 2, block: int = 1 << 16) -> np.ndarray:
    """New-cohort alt-allele counts in the training variants' order and orientation, int8.

    Parameters
    ----------
    new_counts : (n_samples, n_new_variants) int8 alt counts of the new cohort, negative = missing call
    match : from :func:`match_variants`
    ploidy : a flipped (swapped or strand-swapped) variant's count becomes ``ploidy - count``
    block : training variants done at a time, so that no wider temporary than int8 samples x block is made

    Returns
    -------
    (n_samples, n_training_variants) int8, -1 where the training variant is absent from the new cohort or its
    call is missing
    """
    index = match.new_index.to_numpy()
    flips = match.flip.to_numpy().astype(bool)
    out = np.full((new_counts.shape[0], len(match)), -1, dtype=np.int8)
    for start in range(0, len(match), block):
        cols = index[start : start + block]
        found = np.flatnonzero(cols >= 0)
        values = np.asarray(new_counts[:, cols[found]], dtype=np.int8)
        flip = flips[start : start + block][found]
        values[:, flip] = np.where(values[:, flip] >= 0, ploidy - values[:, flip], -1)
        out[:, start + found] = np.where(values >= 0, values, -1)
    return out


def af_concordance(
    new_counts: np.ndarray, match: pd.DataFrame, train_af: np.ndarray, min_variants: int = AF_MIN_VARIANTS
) -> dict:
    """How the new cohort's allele frequencies of the matched variants follow the model cohort's.

    The new cohort's alt-allele frequency of each matched variant (over its called samples), in the
    training orientation (1 − AF where the alleles are swapped), against the training ``af``: their Pearson
    correlation. Cohorts of the same species on the same build correlate strongly (different populations
    too: most variants are common or rare everywhere); a correlation near zero says the positions hold
    other variants (another reference build), a negative one that the alleles are swapped without the
    genotypes being recoded (REF/ALT exchanged in the text only).

    Returns
    -------
    dict: ``af_correlation`` (None with fewer than ``min_variants`` variants having a frequency in both
    cohorts, or a constant frequency), ``af_compared`` (that number of variants)
    """
    found = match["new_index"].to_numpy() >= 0
    cols = match["new_index"].to_numpy()[found]
    counts = new_counts[:, cols]
    called = counts >= 0
    an = 2 * called.sum(axis=0)
    ac = np.where(called, counts, 0).sum(axis=0, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        new_af = np.where(an > 0, ac / np.maximum(an, 1), np.nan)
    flip = match["flip"].to_numpy()[found]
    new_af[flip] = 1.0 - new_af[flip]
    old_af = np.asarray(train_af, dtype=np.float64)[found]
    both = np.isfinite(new_af) & np.isfinite(old_af)
    n = int(both.sum())
    r = None
    if n >= min_variants and new_af[both].std() > 0 and old_af[both].std() > 0:
        r = round(float(np.corrcoef(old_af[both], new_af[both])[0, 1]), 6)
    return {"af_correlation": r, "af_compared": n}


def check_af(report: dict, min_correlation: float | None, action: str, source) -> str | None:
    """The verdict on :func:`af_concordance`'s ``report``: None when the correlation reaches
    ``min_correlation`` (or could not be judged, or no threshold is set); else the one-line problem, raised
    as :class:`PopcenInputError` (``action`` ``stop``) or returned (``warn``)."""
    r = report.get("af_correlation")
    if min_correlation is None or r is None or r >= min_correlation:
        return None
    problem = (
        f"the allele frequencies of the {report['af_compared']} matched variants correlate at r = {r:.2f} "
        f"with the model cohort's (below classification.min_af_correlation = {min_correlation:g}): "
        + ("REF/ALT swapped without recoding the genotypes?" if r < 0 else "another reference build?")
        + " check the VCF's alleles and build against the model's features/variants.tsv"
        " (classification.af_mismatch: warn goes on)"
    )
    if action == "stop":
        raise PopcenInputError(source, problem)
    return problem
