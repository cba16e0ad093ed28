"""Saving and loading a trained classifier: a PyTorch state dict plus a JSON of everything else.

The JSON holds the head's and the CAE's hyper-parameters (to rebuild the network), the class labels in
output order, the label column, the fine -> coarse label map, and the rows of the model cohort's
``variants.tsv`` that the genotype images hold (to align a new cohort's variants). No pickled classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from popcen.classification.model import AncestryClassifier, ClassifierConfig, build_classifier
from popcen.errors import PopcenInputError


def save_classifier(model: AncestryClassifier, weights: str | Path, meta_json: str | Path, meta: dict) -> None:
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, weights)
    doc = {"classifier": model.config.to_dict(), "cae": model.cae_config.to_dict(), **meta}
    Path(meta_json).write_text(json.dumps(doc, indent=2) + "\n")


def load_classifier(weights: str | Path, meta_json: str | Path) -> tuple[AncestryClassifier, dict]:
    """Rebuild the classifier (eval mode, CPU) and return it with its metadata."""
    try:
        meta = json.loads(Path(meta_json).read_text())
        config = ClassifierConfig(**meta["classifier"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PopcenInputError(meta_json, f"not a classifier description ({exc})") from None
    model = build_classifier(meta["cae"], None, config)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    return model, meta
