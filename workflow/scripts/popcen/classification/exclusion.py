"""Out-of-reference score: does a sample's genotype fit any population of the training cohort?

A classifier gives a sample from a population it never saw the label of the nearest class it knows, often
with confidence. The score here is independent of the classifier and of the CAE: the assignment-test
likelihood of population genetics (Rannala & Mountain 1997; the "exclusion" test of GeneClass,
Cornuet et al. 1999). Each reference population is summarised by its allele frequencies at the model's
variants; a sample's genotype has a log-likelihood under each population's frequencies (Hardy-Weinberg,
variants independent, as LD-pruned variants nearly are).

For one population the log-likelihood of the sample's called genotypes is compared with its expectation
for a member of that population, at the same variants::

    D = sum_m (log P(g_m | p_m) - E[log P(g | p_m)]) / sqrt(sum_m Var[log P(g | p_m)])

which is about N(0, 1) for a member and far below 0 for a sample whose genotypes no frequency set explains,
whatever variants it is missing. Linkage, substructure and the frequencies' own sampling noise move a
member's D away from N(0, 1), so each population's D is standardised by its members' leave-one-out values
(each member scored against the frequencies of the others), ``z = (D - mean) / sd``.

A sample's ``distance`` is ``-z`` under the population the classifier finds most similar: does the label
it would be given explain its genotypes? Not the population it fits best: an admixed population's pooled
frequencies are intermediate and its members' D spreads widely, so a sample of a population absent from the
reference but lying between reference populations fits it as well as its members do (on 1000 Genomes
without South Asians, every GIH sample fitted PUR best and none was flagged; under the population the
classifier called, CEU or GBR, 84 % were). The population it fits best is reported as
``nearest_reference``. The cutoff that flags an ``outlier`` is a quantile (99 % by default) of the
reference samples' own distances, each leave-one-out and under its out-of-fold most similar population.

Everything streams over variant blocks: the reference needs the per-population allele counts (P x M), and
no samples x variants array wider than int8 is held.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Added to the allele counts (a Beta(1/2, 1/2) prior, Jeffreys'): a variant never seen in a population
# keeps a small frequency, so one carrier cannot send the likelihood to minus infinity.
PRIOR = 0.5
# Elements of a samples x variants float64 temporary (32 MB): blocks are cut to this many columns per sample.
SUB_BLOCK_ELEMENTS = 1 << 22


@dataclass
class ExclusionModel:
    """Per-population alt-allele and called-allele counts (P, M) at the model's variants, in ``labels``
    order, and the members' leave-one-out mean and sd of D (P,)."""

    labels: list[str]
    alt: np.ndarray
    called: np.ndarray
    mean: np.ndarray
    sd: np.ndarray

    def arrays(self) -> dict:
        return {"alt": self.alt, "called": self.called}

    def summary(self) -> dict:
        return {"labels": list(self.labels), "mean": self.mean.tolist(), "sd": self.sd.tolist()}

    @classmethod
    def load(cls, summary: dict, arrays) -> ExclusionModel:
        return cls(
            labels=[str(x) for x in summary["labels"]],
            alt=np.asarray(arrays["alt"]),
            called=np.asarray(arrays["called"]),
            mean=np.asarray(summary["mean"], dtype=np.float64),
            sd=np.asarray(summary["sd"], dtype=np.float64),
        )


def genotype_terms(alt, called) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From alt-allele counts and called-allele counts (any matching shape): the log-probabilities of the
    genotypes 0, 1, 2 (stacked on a new first axis), and the mean and variance of log P(g) when g is drawn
    from those probabilities (Hardy-Weinberg at the frequency (alt + 1/2) / (called + 1))."""
    p = (np.asarray(alt, dtype=np.float64) + PRIOR) / (np.asarray(called, dtype=np.float64) + 2 * PRIOR)
    logp = np.stack([2 * np.log1p(-p), np.log(2.0) + np.log(p) + np.log1p(-p), 2 * np.log(p)])
    prob = np.exp(logp)
    expected = (prob * logp).sum(0)
    variance = (prob * (logp - expected) ** 2).sum(0)
    return logp, expected, variance


def _sub_blocks(blocks):
    """``(start, block)`` pairs cut so that a (samples, columns) float64 temporary stays within
    :data:`SUB_BLOCK_ELEMENTS`."""
    for start, block in blocks:
        block = np.asarray(block)
        width = max(1, SUB_BLOCK_ELEMENTS // max(1, block.shape[0]))
        for offset in range(0, block.shape[1], width):
            yield start + offset, block[:, offset : offset + width]


def _indicators(block: np.ndarray) -> list[np.ndarray]:
    """(n, b) int8 counts -> [g == 0, g == 1, g == 2] as float64 (missing calls: all zero)."""
    return [(block == g).astype(np.float64) for g in (0, 1, 2)]


def score_block(block: np.ndarray, alt: np.ndarray, called: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sums behind D for one block of variants: (n, P) sum of log P(g) - E, and (n, P) sum of Var over
    each sample's called variants. ``block`` (n, b) int8 alt counts (-1 missing); ``alt``, ``called`` (P, b)."""
    logp, expected, variance = genotype_terms(alt, called)  # (3, P, b), (P, b), (P, b)
    ind = _indicators(block)
    observed = ind[0] + ind[1] + ind[2]
    deviation = sum(ind[g] @ (logp[g] - expected).T for g in range(3))
    return deviation, observed @ variance.T


def population_counts(blocks, labels) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per-population alt and called allele counts (P, M) int32 from ``(start, int8 block)`` pairs over the
    variants (:func:`popcen.features.iter_variant_blocks`), the rows of every block in ``labels`` order."""
    classes, y = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    onehot = np.eye(len(classes))[y].T  # (P, n)
    alts, calls = [], []
    for _, block in blocks:
        block = np.asarray(block)
        observed = block >= 0
        alts.append(np.rint(onehot @ np.where(observed, block, 0)).astype(np.int32))
        calls.append(np.rint(onehot @ (2 * observed)).astype(np.int32))
    return classes.tolist(), np.concatenate(alts, axis=1), np.concatenate(calls, axis=1)


def leave_one_out_d(blocks, labels, model_labels, alt, called) -> np.ndarray:
    """(n, P) D of every reference sample under every population, its own population's frequencies computed
    without it (the others do not hold it). ``blocks`` as for :func:`population_counts`, same order."""
    y = np.searchsorted(np.asarray(model_labels), np.asarray(labels).astype(str))
    deviation = variance = None
    for start, block in _sub_blocks(blocks):
        stop = start + block.shape[1]
        dev, var = score_block(block, alt[:, start:stop], called[:, start:stop])
        # own population: the counts less the sample's own alleles
        observed = block >= 0
        own_alt = alt[y, start:stop] - np.where(observed, block, 0)
        own_called = called[y, start:stop] - 2 * observed
        logp, expected, v = genotype_terms(own_alt, own_called)  # (3, n, b), (n, b), (n, b)
        picked = np.take_along_axis(logp, np.clip(block, 0, 2)[None].astype(np.int64), 0)[0]
        rows = np.arange(len(block))
        dev[rows, y] = np.where(observed, picked - expected, 0.0).sum(1)
        var[rows, y] = np.where(observed, v, 0.0).sum(1)
        deviation = dev if deviation is None else deviation + dev
        variance = var if variance is None else variance + var
    return deviation / np.sqrt(np.maximum(variance, 1e-12))


def fit_exclusion(blocks_factory, labels) -> tuple[ExclusionModel, np.ndarray]:
    """The reference model and the (n, P) leave-one-out D of its samples. ``blocks_factory()`` returns a
    fresh iterator of ``(start, int8 block)`` over the reference's variants (it is read twice)."""
    classes, alt, called = population_counts(blocks_factory(), labels)
    d = leave_one_out_d(blocks_factory(), labels, classes, alt, called)
    y = np.searchsorted(np.asarray(classes), np.asarray(labels).astype(str))
    own = d[np.arange(len(d)), y]
    mean = np.array([own[y == q].mean() for q in range(len(classes))])
    sd = np.array([own[y == q].std(ddof=1) if (y == q).sum() > 1 else 1.0 for q in range(len(classes))])
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    return ExclusionModel(classes, alt, called, mean, sd), d


def distances(model: ExclusionModel, d: np.ndarray, against=None) -> tuple[np.ndarray, np.ndarray]:
    """From (n, P) D: every sample's distance ``-z`` to the population ``against`` names for it (default:
    the population it fits best, ``-max_q z_q``), and the population it fits best."""
    z = (d - model.mean[None, :]) / model.sd[None, :]
    best = z.argmax(1)
    column = best if against is None else population_columns(model, against)
    return -z[np.arange(len(z)), column], np.asarray(model.labels, dtype=object)[best]


def population_columns(model: ExclusionModel, labels) -> np.ndarray:
    """The model's column of each label; a label the reference does not hold is an error."""
    labels = np.asarray(labels).astype(str)
    unknown = sorted(set(labels) - set(model.labels))
    if unknown:
        raise ValueError(f"populations not in the reference: {', '.join(unknown)}")
    return np.searchsorted(np.asarray(model.labels), labels)


def score_samples(model: ExclusionModel, blocks) -> np.ndarray:
    """(n, P) D of new samples (aligned to the model's variants in its orientation), from ``(start, int8
    block)`` pairs."""
    deviation = variance = None
    for start, block in _sub_blocks(blocks):
        stop = start + block.shape[1]
        dev, var = score_block(block, model.alt[:, start:stop], model.called[:, start:stop])
        deviation = dev if deviation is None else deviation + dev
        variance = var if variance is None else variance + var
    return deviation / np.sqrt(np.maximum(variance, 1e-12))


def array_blocks(counts: np.ndarray, block: int = 8192):
    """``(start, block)`` pairs over the columns of an in-memory (n, M) int8 array."""
    for start in range(0, counts.shape[1], block):
        yield start, counts[:, start : start + block]
