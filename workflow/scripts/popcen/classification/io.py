"""Saving and loading a trained classifier: a PyTorch state dict plus a JSON of everything else.

The JSON holds the head's and the CAE's hyper-parameters (to rebuild the network), the class labels in
output order, the label column, the fine -> coarse label map, and the rows of the model cohort's
``variants.tsv`` that the genotype images hold (to align a new cohort's variants), the number of members of
a seed ensemble (``ensemble``, 1 when absent; the weights are then keyed ``members.<m>.``), and the model format
(:data:`popcen.classification.model.MODEL_FORMAT`): a model saved by an older layout is refused with a
message that says to retrain it. No pickled classes.
"""

from __future__ import annotations

from pathlib import Path

import torch

from popcen.classification.model import (
    MODEL_FORMAT,
    AncestryClassifier,
    ClassifierConfig,
    ClassifierEnsemble,
    build_classifier,
)
from popcen.errors import PopcenInputError
from popcen.io import read_json, write_json


def save_classifier(
    model: AncestryClassifier | ClassifierEnsemble, weights: str | Path, meta_json: str | Path, meta: dict
) -> None:
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, weights)
    members = len(model.members) if isinstance(model, ClassifierEnsemble) else 1
    doc = {
        "format": MODEL_FORMAT,
        "classifier": model.config.to_dict(),
        "cae": model.cae_config.to_dict(),
        **meta,
        "ensemble": members,
    }
    write_json(doc, meta_json)


def load_classifier(
    weights: str | Path, meta_json: str | Path
) -> tuple[AncestryClassifier | ClassifierEnsemble, dict]:
    """Rebuild the classifier (eval mode, CPU) and return it with its metadata.

    Raises
    ------
    PopcenInputError
        The JSON is not a classifier description, was written by another model format (an older popcen:
        re-run train_classifier), or the weights do not fit the network it describes.
    """
    try:
        meta = read_json(meta_json)
        found = meta.get("format", 1)
    except (OSError, ValueError, AttributeError) as exc:
        raise PopcenInputError(meta_json, f"not a classifier description ({exc})") from None
    if found != MODEL_FORMAT:
        raise PopcenInputError(
            meta_json,
            f"classifier saved in model format {found}, this popcen reads format "
            f"{MODEL_FORMAT}; re-run train_classifier to retrain it",
        )
    try:
        config = ClassifierConfig(**meta["classifier"])
        members = int(meta.get("ensemble", 1))
        model = build_classifier(meta["cae"], None, config)
        if members > 1:
            model = ClassifierEnsemble(
                [model] + [build_classifier(meta["cae"], None, config) for _ in range(members - 1)]
            )
    except (ValueError, KeyError, TypeError) as exc:
        raise PopcenInputError(meta_json, f"not a classifier description ({exc})") from None
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError) as exc:
        raise PopcenInputError(
            weights,
            f"weights do not fit the classifier of {Path(meta_json).name} "
            f"({str(exc).splitlines()[0]}); re-run train_classifier",
        ) from None
    model.eval()
    return model, meta
