"""Training the ancestry classifier with the shared loop, an optional random search, and cross-validation.

Every model is trained by :func:`popcen.training.fit` with class-weighted cross-entropy (populations of
unequal size weigh the same) and early stopping on an inner validation split of the training samples.
The random search (``n_trials`` > 0) draws hyper-parameters from ``search_space`` and scores each draw by
macro F1 on that same inner validation split, never on the held-out fold.

Fine-tuning (``fine_tune``) trains encoder and head end to end, the encoder at ``lr · encoder_lr_scale``:
the head starts from random weights, and full-size steps through it would first wreck the pre-trained
filters. Early stopping watches the same inner validation split.

Inductive cross-validation (``classification.cv_representation: inductive``): instead of the cohort's CAE,
whose variant choice and weights saw every sample (test folds included, no labels), each fold trains its own
CAE on its training samples with :func:`popcen.representation.train_cae` (:func:`train_fold_cae`), and the
fold's classifier reads that CAE.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from popcen import representation as rep
from popcen.batches import GenotypeData, RowView, infer_batch_size, sample_loader, scale_rows, variant_means
from popcen.classification.cv import evaluate_level, inner_split, out_of_fold_proba
from popcen.classification.metrics import coarse_groups, label_map, summary_metrics
from popcen.classification.model import (
    AncestryClassifier,
    ClassifierConfig,
    ClassifierEnsemble,
    build_classifier,
    class_weights,
)
from popcen.classification.tables import encode_labels, predictions_table
from popcen.features import read_variant_columns
from popcen.images import select_variants, to_images
from popcen.training import FitOptions, fit, infer, make_optimizer, resolve_device, seed_everything

log = logging.getLogger("popcen")

# Frozen encoder features are computed once and held for every sample up to this size (float32); wider
# ones (the stem's map of a whole-genome sequence CAE: one or more features per variant) are computed
# from the int8 store batch by batch, every epoch. Training on held features peaks at about 4x their size
# (standardised and per-split copies): 8.7 GB with 2.0 GB held (benchmarks/genome_scale.py, 500 samples x
# 250 k variants), hence 1 GiB.
MAX_HELD_FEATURE_BYTES = 1024**3

# Head and optimiser settings a random search may draw (each a list of choices).
SEARCHABLE = ("lr", "weight_decay", "hidden", "dropout", "noise_std", "batch_size")


@dataclass
class TrainSettings:
    """Everything that decides how a classifier is trained (the ``classification`` config section)."""

    encoder_output: str = "conv"
    encoder_blocks: int = 1
    encoder_pool: bool = False
    fine_tune: bool = False
    encoder_lr_scale: float = 0.1
    standardize: bool = True
    hidden: int = 0
    noise_std: float = 0.0
    dropout: float = 0.0
    optimizer: str = "lbfgs"  # full-batch (popcen.training.FullBatchLBFGS): reaches the regularised optimum
    lr: float = 0.0001
    # "constant" or "cosine" (popcen.training.fit): a cosine decay lets a strongly regularised head settle
    # at its optimum instead of hovering around it at the last step size.
    lr_schedule: str = "cosine"
    weight_decay: float = 0.0
    # Logistic regression's C: when > 0 the head's L2 weight is 1 / (C · n) for the n samples it is fitted
    # on (the penalty of sklearn's objective, per sample), so one C serves a cohort of any size and every
    # fold and refit; ``weight_decay`` is then not used.
    l2_c: float = 0.001
    batch_size: int = 32
    max_epochs: int = 200
    patience: int = 0
    val_fraction: float = 0.15
    seed: int = 1
    device: str = "auto"
    n_trials: int = 0
    search_space: dict = field(default_factory=dict)
    refit: bool = True
    # An extra cross-entropy at a coarser level (e.g. super_pop) on the summed class probabilities, weighted
    # by ``coarse_weight``; ``coarse_of[k]``: the coarse group of class k. 0 / None: off.
    coarse_weight: float = 0.0
    coarse_of: tuple | None = None
    # Members of a seed ensemble: the chosen settings trained ``ensemble`` times, member m with seed + m
    # (its own inner split, initial weights, noise and batches), their probabilities averaged. 1: one model.
    ensemble: int = 1

    def __post_init__(self) -> None:
        if self.optimizer == "lbfgs" and (self.fine_tune or self.noise_std or self.dropout):
            raise ValueError(
                "classification.optimizer lbfgs needs a deterministic objective on a frozen encoder: "
                "set fine_tune false, noise_std 0 and dropout 0 (or choose adam)"
            )

    @classmethod
    def from_config(cls, section: dict, device: str = "auto") -> TrainSettings:
        known = {k: v for k, v in section.items() if k in cls.__dataclass_fields__}
        return cls(**known, device=device) if "device" not in known else cls(**known)

    def head(self, n_classes: int) -> ClassifierConfig:
        return ClassifierConfig(
            n_classes=n_classes,
            encoder_output=self.encoder_output,
            encoder_blocks=self.encoder_blocks,
            encoder_pool=self.encoder_pool,
            hidden=self.hidden,
            noise_std=self.noise_std,
            dropout=self.dropout,
            fine_tune=self.fine_tune,
            standardize=self.standardize,
        )


def fit_classifier(
    data,
    y: np.ndarray,
    n_classes: int,
    cae_config: dict,
    cae_state: dict | None,
    settings: TrainSettings,
    fit_index: np.ndarray,
    val_index: np.ndarray,
    loss_tsv: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    desc: str = "classifier",
    features: np.ndarray | None = None,
    restore_best: bool = True,
) -> tuple[AncestryClassifier, object]:
    """Train one classifier on ``fit_index``, early-stopping on ``val_index``.

    Parameters
    ----------
    data : the CAE's input: (n_samples, 1, S, S) float32 images, or a :class:`popcen.batches.GenotypeData`
        (sequence CAE; read in mini-batches)
    y : (n_samples,) int class indices
    cae_config, cae_state : the trained CAE (config dict and state dict)
    features : (n_samples, F) float32, optional
        :func:`frozen_features` of the data, to reuse across trials and folds. A frozen encoder is
        deterministic (eval mode), so only the head is trained, on these features: the same model as
        training the whole network, without running the encoder every epoch. Without them (fine-tuning,
        or features too wide to hold) every batch runs through the encoder, frozen unless ``fine_tune``.
    restore_best : bool
        Keep the weights of the best validation epoch (else those of the last epoch).

    Returns
    -------
    model, :class:`popcen.training.FitResult`
    """
    seed_everything(settings.seed)
    model = build_classifier(cae_config, cae_state, settings.head(n_classes))
    weights = torch.as_tensor(class_weights(y[fit_index], n_classes), dtype=torch.float32)
    # Scaling statistics from the fit samples only (never the validation split or a held-out fold). With
    # a fine-tuned encoder they stay those of the pre-trained encoder's output: a fixed affine map.
    if features is not None:
        model.set_feature_scaling(features[fit_index])
    elif settings.standardize:
        model.scaling.set(*feature_moments(model, data, fit_index, settings.device))
    trained, source = (model.head, features) if features is not None else (model, data)
    labels = torch.as_tensor(np.asarray(y), dtype=torch.long)

    use_coarse = bool(settings.coarse_weight) and settings.coarse_of is not None
    if use_coarse:
        coarse_of = torch.as_tensor(np.asarray(settings.coarse_of), dtype=torch.long)
        coarse_weights = torch.as_tensor(
            class_weights(coarse_of.numpy()[y[fit_index]], int(coarse_of.max()) + 1), dtype=torch.float32
        )

    def loss_fn(net, batch):
        x, rows = batch  # the batch's inputs and their samples' rows
        logits = net(x)
        target = labels[rows.cpu()].to(x.device)
        loss = F.cross_entropy(logits, target, weight=weights.to(x.device))
        if use_coarse:
            loss = loss + settings.coarse_weight * coarse_cross_entropy(
                logits, target, coarse_of, coarse_weights
            )
        return loss

    full_batch = settings.optimizer == "lbfgs"  # each epoch a pass over all fit samples: large batches
    train_loader = sample_loader(
        source,
        fit_index,
        batch_size=infer_batch(model) if full_batch else settings.batch_size,
        shuffle=not full_batch,
        seed=settings.seed,
        with_index=True,
    )
    val_loader = (
        sample_loader(source, val_index, batch_size=infer_batch(model), with_index=True)
        if len(val_index)
        else None
    )
    weight_decay = 1.0 / (settings.l2_c * len(fit_index)) if settings.l2_c > 0 else settings.weight_decay
    options = FitOptions(
        optimizer=settings.optimizer,
        lr=settings.lr,
        weight_decay=weight_decay,
        lr_schedule=settings.lr_schedule,
        batch_size=settings.batch_size,
        val_fraction=settings.val_fraction,
        max_epochs=settings.max_epochs,
        patience=settings.patience,
        seed=settings.seed,
        device=settings.device,
        checkpoint_dir=checkpoint_dir,
        loss_tsv=loss_tsv,
        desc=desc,
        progress=False,
        restore_best=restore_best,
    )
    result = fit(
        trained,
        train_loader,
        val_loader,
        loss_fn,
        options,
        optimizer=make_classifier_optimizer(model, replace(settings, weight_decay=weight_decay)),
        fingerprint={
            "head": settings.head(n_classes).to_dict(),
            "n_fit": len(fit_index),
            "batch_size": settings.batch_size,
            "optimizer": settings.optimizer,
            "encoder_lr_scale": settings.encoder_lr_scale,
            **({"coarse_weight": settings.coarse_weight} if use_coarse else {}),
        },
    )
    return model, result


def coarse_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, coarse_of: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy at the coarse level: −log of the summed softmax probabilities of the target's coarse
    group (``coarse_of[k]``: the group of class k), class-weighted by ``weight`` (per group)."""
    coarse_of = coarse_of.to(logits.device)
    n_groups = int(coarse_of.max()) + 1
    member = torch.full((logits.shape[1], n_groups), float("-inf"), device=logits.device)
    member[torch.arange(logits.shape[1], device=logits.device), coarse_of] = 0.0
    log_group = torch.logsumexp(torch.log_softmax(logits, dim=1).unsqueeze(2) + member, dim=1)
    return F.nll_loss(
        log_group, coarse_of[target], weight=None if weight is None else weight.to(logits.device)
    )


def make_classifier_optimizer(model: AncestryClassifier, settings: TrainSettings) -> torch.optim.Optimizer:
    """The configured optimiser over the head (lr) and, when fine-tuning, the encoder (lr · encoder_lr_scale)."""
    groups = [{"params": list(model.head_parameters()), "lr": settings.lr}]
    if settings.fine_tune:
        groups.append(
            {"params": list(model.encoder_parameters()), "lr": settings.lr * settings.encoder_lr_scale}
        )
    return make_optimizer(groups, settings.optimizer, lr=settings.lr, weight_decay=settings.weight_decay)


def infer_batch(model) -> int:
    """Samples per inference batch for ``model`` (a classifier or an ensemble of them), by the width of its
    encoder's map (:func:`popcen.batches.infer_batch_size`)."""
    return infer_batch_size(getattr(model, "width", None) or model.members[0].width)


def infer_rows(model, data, rows, forward, device: str = "auto", batch_size: int | None = None) -> np.ndarray:
    """``forward(model, x)`` over the samples ``rows`` of ``data`` (images, features or GenotypeData) in
    eval mode: (len(rows), ...) float32 in the order of ``rows`` (a loader of the store reads its rows in
    increasing order)."""
    rows = np.asarray(rows, dtype=np.int64)
    loader = sample_loader(data, rows, batch_size=batch_size or infer_batch(model), with_index=True)
    # infer returns float32: the row indices are exact up to 2**24 samples
    out, index = infer(model, loader, lambda m, batch: (forward(m, batch[0]), batch[1]), device=device)
    order = np.argsort(rows, kind="stable")
    placed = np.empty_like(out)
    placed[order[np.searchsorted(rows[order], index.astype(np.int64))]] = out
    return placed


def encoder_features(model: AncestryClassifier, data, device: str = "auto") -> np.ndarray:
    """What the (eval-mode) encoder hands to the head: (n_samples, F) float32, flattened."""
    out = infer_rows(model, data, np.arange(len(data)), lambda m, x: m.encode(x).flatten(1), device)
    model.cpu()
    return out


@torch.no_grad()
def feature_moments(
    model: AncestryClassifier, data, rows, device: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation (population) of the eval-mode encoder's features over ``rows``,
    accumulated batch by batch in float64: the head's standardisation when the features are not held."""
    device = resolve_device(device)
    was_training = model.training
    model.to(device).eval()
    total = squares = 0.0
    for x, _ in sample_loader(data, rows, batch_size=infer_batch(model), with_index=True):
        f = model.encode(x.to(device)).flatten(1)
        total = total + f.sum(0, dtype=torch.float64)
        squares = squares + (f * f).sum(0, dtype=torch.float64)
    model.train(was_training).cpu()
    mean = total.cpu() / len(rows)
    return mean, (squares.cpu() / len(rows) - mean**2).clamp(min=0).sqrt()


def frozen_features(
    data, cae_config, cae_state, settings: TrainSettings, n_classes: int
) -> np.ndarray | None:
    """:func:`encoder_features` when the encoder is frozen (computed once, shared by trials and folds), or
    None when fine-tuning or when they would take more than :data:`MAX_HELD_FEATURE_BYTES` (the encoder
    then runs on every batch)."""
    if settings.fine_tune:
        return None
    model = build_classifier(cae_config, cae_state, settings.head(n_classes))
    width = model.width
    if 4 * width * len(data) > MAX_HELD_FEATURE_BYTES:
        log.info(
            "encoder features: %d per sample, %.1f GB for the cohort as float32: computed batch by batch",
            width,
            4 * width * len(data) / 1e9,
        )
        return None
    return encoder_features(model, data, settings.device)


def predict_proba(
    model: AncestryClassifier | ClassifierEnsemble, data, device: str = "auto", rows=None
) -> np.ndarray:
    """Class probabilities (n, K) of the samples ``rows`` of ``data`` (all by default) in eval mode (no
    noise, no dropout)."""
    rows = np.arange(len(data)) if rows is None else rows
    return infer_rows(model, data, rows, lambda m, x: torch.softmax(m(x), dim=1), device)


def draw_settings(settings: TrainSettings, rng: np.random.Generator) -> TrainSettings:
    """One random draw: every key of ``search_space`` (a list of choices) replaced by a random choice."""
    unknown = set(settings.search_space) - set(SEARCHABLE)
    if unknown:
        raise ValueError(f"search_space keys {sorted(unknown)} are not searchable; use {SEARCHABLE}")
    drawn = {k: type(getattr(settings, k))(rng.choice(v)) for k, v in settings.search_space.items() if v}
    return replace(settings, **drawn)


def train_with_search(
    data,
    y,
    n_classes,
    cae_config,
    cae_state,
    settings: TrainSettings,
    train_index: np.ndarray,
    loss_tsv=None,
    checkpoint_dir=None,
    desc="classifier",
    features=None,
) -> tuple[AncestryClassifier, TrainSettings, pd.DataFrame]:
    """Split ``train_index`` into fit/validation, run the random search there (if ``n_trials``), and return
    the best model (trained on the fit part), its settings, and a table of the trials.

    With ``refit``, the chosen settings are trained once more from the start on all of ``train_index``
    for the number of epochs early stopping chose (all ``max_epochs`` with ``patience`` 0; the model
    returned is that one): the inner validation split is then used for choosing only, and no training
    sample is left out of the final model. With ``refit``, no search and ``patience`` 0 nothing is chosen on
    the inner split, so the model is trained once, on all of ``train_index``.

    With ``ensemble`` > 1, the chosen settings are trained ``ensemble`` − 1 more times with seeds seed + 1, ...
    (each with its own inner split, early stopping and refit) and the model returned is the
    :class:`ClassifierEnsemble` of all of them; the search runs once, for the first member.

    ``encoder_output`` and ``fine_tune`` are not searchable, so the frozen ``features`` serve every trial."""
    if features is None:
        features = frozen_features(data, cae_config, cae_state, settings, n_classes)
    model, chosen, trials = _train_member(
        data,
        y,
        n_classes,
        cae_config,
        cae_state,
        settings,
        train_index,
        loss_tsv,
        checkpoint_dir,
        desc,
        features,
    )
    if settings.ensemble <= 1:
        return model, chosen, trials
    members = [model]
    for m in range(1, settings.ensemble):
        member_settings = replace(chosen, seed=settings.seed + m, n_trials=0, ensemble=1)
        members.append(
            _train_member(
                data,
                y,
                n_classes,
                cae_config,
                cae_state,
                member_settings,
                train_index,
                None,
                None if checkpoint_dir is None else Path(checkpoint_dir) / f"member{m}",
                f"{desc} member {m + 1}/{settings.ensemble}",
                features,
            )[0]
        )
    log.info(
        "%s: ensemble of %d members (seeds %d-%d)",
        desc,
        len(members),
        settings.seed,
        settings.seed + len(members) - 1,
    )
    return ClassifierEnsemble(members), chosen, trials


def _train_member(
    data,
    y,
    n_classes,
    cae_config,
    cae_state,
    settings: TrainSettings,
    train_index,
    loss_tsv,
    checkpoint_dir,
    desc,
    features,
) -> tuple[AncestryClassifier, TrainSettings, pd.DataFrame]:
    """One model: the search (if any) on the inner split, then the optional refit (see :func:`train_with_search`)."""

    def fit_all(chosen: TrainSettings, desc: str, loss_tsv=None):
        """``chosen`` trained on every training sample (no validation split), its last weights kept."""
        return fit_classifier(
            data,
            y,
            n_classes,
            cae_config,
            cae_state,
            chosen,
            train_index,
            np.arange(0),
            loss_tsv=loss_tsv,
            checkpoint_dir=checkpoint_dir,
            desc=desc,
            features=features,
            restore_best=False,
        )

    if settings.refit and not settings.n_trials and not early_stopping(settings):
        # Nothing to choose (one candidate, every epoch run): a model fitted on the inner split would only be
        # scored and discarded before the refit. Train once on every training sample; the trials table
        # then has no validation score.
        model, result = fit_all(settings, desc, loss_tsv)
        row = {"trial": 0, **{k: getattr(settings, k) for k in SEARCHABLE}, "val_macro_f1": np.nan}
        return model, settings, pd.DataFrame([{**row, "val_loss": np.nan, "epochs": result.epochs_run}])
    fit_index, val_index = inner_split(train_index, y, settings.val_fraction, settings.seed)
    candidates = [settings]
    rng = np.random.default_rng(settings.seed)
    candidates += [draw_settings(settings, rng) for _ in range(settings.n_trials)]
    best, rows = None, []
    for trial, cand in enumerate(candidates):
        model, result = fit_classifier(
            data,
            y,
            n_classes,
            cae_config,
            cae_state,
            cand,
            fit_index,
            val_index,
            loss_tsv=loss_tsv if len(candidates) == 1 else None,
            checkpoint_dir=checkpoint_dir,
            desc=f"{desc} trial {trial}" if len(candidates) > 1 else desc,
            features=features,
            restore_best=early_stopping(cand),
        )
        val_pred = predict_proba(model, data, cand.device, rows=val_index).argmax(1)
        score = summary_metrics(y[val_index], val_pred, range(n_classes))["f1"]
        rows.append(
            {
                "trial": trial,
                **{k: getattr(cand, k) for k in SEARCHABLE},
                "val_macro_f1": score,
                "val_loss": result.best_loss,
                "epochs": result.epochs_run,
            }
        )
        key = (score, -result.best_loss)
        if best is None or key > best[0]:
            best = (key, model, cand, result)
    trials = pd.DataFrame(rows)
    if len(candidates) > 1:
        log.info(
            "%s: random search chose trial %d (validation macro F1 %.3f)",
            desc,
            int(trials.val_macro_f1.idxmax()),
            trials.val_macro_f1.max(),
        )
        if loss_tsv:
            best[3].losses().to_csv(loss_tsv, sep="\t", index=False)
    model, chosen, result = best[1], best[2], best[3]
    if settings.refit and len(val_index):
        epochs = max(result.best_epoch, 1) if early_stopping(chosen) else chosen.max_epochs
        model, _ = fit_all(replace(chosen, max_epochs=epochs, patience=0), f"{desc} refit")
        log.info("%s: refitted on all %d training samples for %d epochs", desc, len(train_index), epochs)
    return model, chosen, trials


def early_stopping(settings: TrainSettings) -> bool:
    """Whether the inner validation split picks the epoch (``patience`` > 0): training stops after
    ``patience`` epochs without a better validation loss, the best epoch's weights are kept and the refit
    runs that many epochs. With ``patience`` 0 every model trains all ``max_epochs`` and keeps its last
    weights: the setting for a strongly regularised head whose optimum is the end of training (on 1000
    Genomes its validation loss was lowest after 6 of 60 epochs, while all 60 scored better; benchmarks/
    RESULTS.md, ## classification)."""
    return bool(settings.patience)


def cross_validated_proba(
    data,
    y,
    n_classes,
    cae_config,
    cae_state,
    settings: TrainSettings,
    folds: np.ndarray,
    desc="cv",
    fold_representation=None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Out-of-fold probabilities of every sample; each fold runs :func:`train_with_search` on its training
    samples only. Returns (proba, trials table with a ``fold`` column).

    ``fold_representation`` (inductive CV): ``fold_representation(train_index, fold)`` -> a
    :class:`FoldRepresentation` (e.g. :func:`train_fold_cae`), the CAE and the input of one fold, fitted on
    its training samples; ``data``, ``cae_config`` and ``cae_state`` are then not used (None). Without it
    (transductive) every fold reads the one CAE given, whose frozen features are computed once."""
    all_trials = []
    features = None
    if fold_representation is None:
        features = frozen_features(data, cae_config, cae_state, settings, n_classes)

    def fit_predict(train, test, fold):
        fold_data, config, state, fold_features = data, cae_config, cae_state, features
        if fold_representation is not None:
            fitted = fold_representation(train, fold)
            fold_data, config, state = fitted.data, fitted.cae_config, fitted.cae_state
            fold_features = frozen_features(fold_data, config, state, settings, n_classes)
        model, chosen, trials = train_with_search(
            fold_data,
            y,
            n_classes,
            config,
            state,
            settings,
            train,
            desc=f"{desc} fold {fold}",
            features=fold_features,
        )
        all_trials.append(trials.assign(fold=fold))
        return predict_proba(model, fold_data, chosen.device, rows=test)

    proba = out_of_fold_proba(fit_predict, folds, n_classes, desc=desc)
    return proba, pd.concat(all_trials, ignore_index=True)


def settings_dict(settings: TrainSettings) -> dict:
    return asdict(settings)


# ------------------------------------------------------------------------- inductive CV: a CAE per fold
@dataclass
class FoldRepresentation:
    """The CAE of one CV fold, trained on the fold's training samples, and every sample's input to it.

    data : (n_samples, 1, S, S) float32 images of every sample on the fold's variants (image CAE), or a
        :class:`popcen.batches.GenotypeData` of those variants (sequence CAE); a missing call takes the mean
        of the fold's training samples
    cae_config, cae_state : the CAE's hyper-parameters and state dict (what the classifier's encoder loads)
    variant_index : the fold's variants (indices into the feature set, genome order)
    train_index : the samples the CAE and the variant choice saw
    epochs_run, best_epoch, stop_reason : the CAE's training (:class:`popcen.training.FitResult`)
    """

    data: object
    cae_config: dict
    cae_state: dict
    variant_index: np.ndarray
    train_index: np.ndarray
    epochs_run: int
    best_epoch: int
    stop_reason: str

    def summary(self) -> dict:
        """JSON-ready facts of the fold's CAE (no arrays but the sizes)."""
        return {
            "n_train": len(self.train_index),
            "n_variants": len(self.variant_index),
            "epochs_run": int(self.epochs_run),
            "best_epoch": int(self.best_epoch),
            "stop_reason": str(self.stop_reason),
        }


def train_fold_cae(
    alt_count,
    train_index,
    training: dict,
    representation: dict,
    *,
    stratify=None,
    device: str = "auto",
    block: int | None = None,
) -> FoldRepresentation:
    """The CAE of one fold of an inductive CV, trained as rule train_cae trains the cohort's, on the fold's
    training samples alone.

    - variants: the ``representation.max_variants`` of highest variance over the training samples
      (:func:`popcen.images.select_variants`, streamed in variant blocks), all of them without a cap;
    - a missing call: the variant's mean over the training samples (the cohort's CAE takes the cohort's);
    - the CAE: :func:`popcen.representation.train_cae` (the shared loop, :func:`popcen.training.fit`) on the
      training samples' images or genotypes, with the settings train_cae uses (``training`` with
      ``representation.training`` over it); its own validation split, its PCA start (``pca_init``) or
      pixel bias are drawn from the training samples too; no checkpoint.

    Parameters
    ----------
    alt_count : (n_samples, n_variants) int8 Zarr or numpy array of the cohort, -1 = missing
    train_index : the fold's training samples (rows of ``alt_count``)
    training, representation : the config's ``training`` and ``representation`` sections
    stratify : (n_samples,) labels, optional: the CAE's validation split is stratified by those of the
        training samples (train_cae stratifies by the fine level)
    device : auto, cpu or cuda
    block : variants per block of the variance pass (default: the store's chunk width)

    The int8 columns of the fold's variants are read into memory for every sample (a sequence CAE without
    a cap: the whole feature store).
    """
    train_index = np.sort(np.asarray(train_index, dtype=np.int64))
    settings = rep.training_settings(training, representation.get("training"))
    kept = select_variants(RowView(alt_count, train_index), representation["max_variants"] or None, block)
    columns = read_variant_columns(alt_count, kept)
    means = variant_means(columns[train_index])
    if rep.model_architecture(representation) == "sequence":
        data = GenotypeData(columns, means)
        train_data = GenotypeData(columns[train_index], means)
    else:
        data = to_images(scale_rows(columns, means)[:, 0])
        train_data = data[train_index]
    labels = None if stratify is None else np.asarray(stratify)[train_index]
    model, result = rep.train_cae(
        train_data, len(kept), settings, representation, device=device, stratify=labels, progress=False
    )
    return FoldRepresentation(
        data=data,
        cae_config=model.config.to_dict(),
        cae_state=model.state_dict(),
        variant_index=kept,
        train_index=train_index,
        epochs_run=result.epochs_run,
        best_epoch=result.best_epoch,
        stop_reason=result.stop_reason,
    )


# ---------------------------------------------------------------- the rules' classifier, on a samples table
def with_coarse_loss(settings: TrainSettings, samples, fine: str, coarse: str | None) -> TrainSettings:
    """``settings`` with the fine classes' coarse groups filled in when the coarse-level loss is on
    (``coarse_weight`` > 0) and there is a coarser label column; otherwise unchanged."""
    if not settings.coarse_weight or not coarse or coarse == fine:
        return settings
    return replace(settings, coarse_of=coarse_groups(samples, fine, coarse))


def train_final(
    data,
    samples,
    label_column,
    settings: TrainSettings,
    coarse_column: str | None,
    loss_tsv,
    cae_config,
    cae_state,
    variant_index,
) -> tuple[object, dict, pd.DataFrame]:
    """Train the cohort's classifier on all labelled samples (inner split for early stopping/search).

    Returns (model, metadata for :func:`popcen.classification.io.save_classifier`, trials table).
    """
    y, labels = encode_labels(samples, label_column)
    settings = with_coarse_loss(settings, samples, label_column, coarse_column)
    model, chosen, trials = train_with_search(
        data,
        y,
        len(labels),
        cae_config,
        cae_state,
        settings,
        np.arange(len(y)),
        loss_tsv=loss_tsv,
        desc="classifier",
    )
    meta = {
        "label_column": label_column,
        "labels": labels,
        "coarse_column": coarse_column,
        "coarse_map": label_map(samples, label_column, coarse_column) if coarse_column else None,
        "variant_index": [int(i) for i in variant_index],
        "settings": dict(vars(chosen)),
        "n_samples": len(y),
    }
    return model, meta, trials


def evaluate_cv(
    data,
    samples,
    level,
    folds,
    settings: TrainSettings,
    cae_config,
    cae_state,
    coarse: str | None = None,
    fold_representation=None,
):
    """Cross-validated classifier trained on the ``level`` column: (predictions table, tables of
    :func:`popcen.classification.cv.evaluate_level`, trials). ``coarse``: the next coarser label column, for
    the optional coarse-level loss. ``fold_representation``: inductive CV, a CAE per fold (see
    :func:`cross_validated_proba`; ``data``, ``cae_config``, ``cae_state`` None)."""
    y, labels = encode_labels(samples, level)
    settings = with_coarse_loss(settings, samples, level, coarse)
    proba, trials = cross_validated_proba(
        data,
        y,
        len(labels),
        cae_config,
        cae_state,
        settings,
        folds,
        desc=f"CV {level}",
        fold_representation=fold_representation,
    )
    tables = evaluate_level(samples[level].astype(str).to_numpy(), proba, labels, folds)
    return predictions_table(samples, level, labels, proba, folds), tables, trials
