"""Rule train_classifier: the cohort's classifier on the frozen CAE encoder, trained on all labelled samples."""

import torch

from popcen.classification.io import save_classifier
from popcen.classification.stages import cae_variant_index, images_for, train_final
from popcen.classification.train import TrainSettings
from popcen.features import load_features
from popcen.representation import load_cae
from popcen.rulerunner import run_rule


def main(smk, log):
    gn, _, samples = load_features(smk.params.features)
    cae, cae_meta = load_cae(smk.input.cae_weights, smk.input.cae_json)
    index = cae_variant_index(cae_meta, gn.shape[1])
    images = images_for(gn, index, cae.config.to_dict())
    settings = TrainSettings.from_config(smk.params.classification, device=smk.params.device)
    torch.set_num_threads(max(1, smk.threads))
    labels = smk.params.label_columns
    model, meta, trials = train_final(images, samples, labels[0], settings, labels[1] if len(labels) > 1 else None,
                                      smk.output.losses, cae.config.to_dict(), cae.state_dict(), index)
    save_classifier(model, smk.output.weights, smk.output.meta, meta)
    trials.to_csv(smk.output.trials, sep="\t", index=False)
    log.info("classifier over %d %s classes saved to %s", len(meta["labels"]), labels[0], smk.output.weights)


run_rule(main, snakemake)
