"""Rule predict: a new cohort's population probabilities from another cohort's trained classifier."""

import pandas as pd
import torch

from popcen.classification.io import load_classifier
from popcen.classification.newcohort import read_cohort, read_samples
from popcen.classification.stages import accuracy_note, predict_new_cohort, write_json
from popcen.rulerunner import run_rule


def main(smk, log):
    model, meta = load_classifier(smk.input.weights, smk.input.meta)
    train_variants = pd.read_csv(smk.input.model_variants, sep="\t",
                                 dtype={"chrom": str, "id": str, "ref": str, "alt": str})
    samples = read_samples(list(smk.input.samples))
    torch.set_num_threads(max(1, smk.threads))
    gn, new_variants = read_cohort(smk.input.zarr, smk.input.qc, samples["sample"].tolist())
    log.info("%s: %d samples, %d usable records", smk.wildcards.cohort, len(samples), len(new_variants))
    predictions, matching, report = predict_new_cohort(
        model, meta, train_variants, gn, new_variants, samples, smk.params.min_overlap,
        smk.params.strand_ambiguous, source=f"cohort {smk.wildcards.cohort} ({smk.input.qc[0]} ...)",
        device=smk.params.device,
    )
    report.update(model_cohort=smk.params.model_cohort, n_samples=len(samples),
                  accuracy_where_labelled=accuracy_note(predictions, meta))
    log.info("overlap: %s", report)
    predictions.to_csv(smk.output.predictions, sep="\t", index=False)
    matching.to_csv(smk.output.matching, sep="\t", index=False)
    write_json(report, smk.output.overlap)


run_rule(main, snakemake)
