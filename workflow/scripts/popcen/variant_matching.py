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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from popcen.errors import PopcenInputError

# Fewer matched variants with a frequency in both cohorts than this: no allele-frequency correlation is
# judged (too few to tell a swap or another build from sampling noise).
AF_MIN_VARIANTS = 20

COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")
STATUSES = ("exact", "swapped", "strand", "strand_swapped", "missing")
FLIPPED = ("swapped", "strand_swapped")
# Preference when B holds several records at one position (e.g. a split multi-allelic site).
_RANK = {s: k for k, s in enumerate(STATUSES)}


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
        missing), ``status`` (one of :data:`STATUSES`) and ``flip`` (True when counts flip).
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
    if len(pairs):
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
    return result


def overlap_report(match: pd.DataFrame) -> dict:
    """Counts per status and the fraction of training variants found (``overlap``)."""
    counts = match.status.value_counts()
    report = {s: int(counts.get(s, 0)) for s in STATUSES}
    report["n_training_variants"] = len(match)
    report["matched"] = len(match) - report["missing"]
    report["overlap"] = report["matched"] / len(match) if len(match) else 0.0
    return report


def check_overlap(match: pd.DataFrame, min_overlap: float, source) -> dict:
    """:func:`overlap_report`, raising :class:`PopcenInputError` when the overlap is below ``min_overlap``."""
    report = overlap_report(match)
    if report["overlap"] < min_overlap:
        raise PopcenInputError(
            source,
            f"only {report['matched']} of {report['n_training_variants']} training variants "
            f"({report['overlap']:.1%}) are found in this cohort, below classification.min_overlap = "
            f"{min_overlap:.0%}; check the reference build and chromosome names, or lower min_overlap",
        )
    return report


def align_counts(
    new_counts: np.ndarray, match: pd.DataFrame, train_mean: np.ndarray, ploidy: int = 2
) -> np.ndarray:
    """New-cohort alt-allele counts in the training variants' order and orientation.

    Parameters
    ----------
    new_counts : ndarray of shape (n_samples, n_new_variants)
        Alt-allele counts of the new cohort, negative = missing call.
    match : DataFrame
        From :func:`match_variants`.
    train_mean : ndarray of shape (n_training_variants,)
        Mean training alt-allele count of each variant: the value of a missing variant or call.

    Returns
    -------
    ndarray of shape (n_samples, n_training_variants), float32
    """
    train_mean = np.asarray(train_mean, dtype=np.float32)
    out = np.broadcast_to(train_mean, (new_counts.shape[0], len(match))).copy()
    found = match.new_index.to_numpy() >= 0
    cols = match.new_index.to_numpy()[found]
    values = new_counts[:, cols].astype(np.float32)
    flip = match.flip.to_numpy()[found]
    values[:, flip] = ploidy - values[:, flip]
    called = new_counts[:, cols] >= 0
    out[:, found] = np.where(called, values, out[:, found])
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
