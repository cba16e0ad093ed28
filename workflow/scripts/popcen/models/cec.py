"""Convolutional embedded clustering (CEC): deep embedded clustering on the CAE's latent space.

Xie et al.'s DEC as used by Karim et al.: K centroids μ_j in the latent space (initialised by k-means on
the latent features of the trained CAE), a Student-t soft assignment

    q_ij = (1 + ||z_i − μ_j||² / α)^(−(α+1)/2) / Σ_j' (1 + ||z_i − μ_j'||² / α)^(−(α+1)/2),   α = 1,

an auxiliary target that sharpens q and divides by the cluster frequency f_j = Σ_i q_ij

    p_ij = (q_ij² / f_j) / Σ_j' (q_ij'² / f_j'),

refreshed every ``update_interval`` batches from the whole data, and the loss

    L = σ · KL(P ‖ Q) + (1 − σ) · reconstruction MSE,

with the encoder, decoder and centroids trained together. Training stops when fewer than ``tol`` of the
samples change cluster between two refreshes.

DEC's kernel is isotropic: every cluster is a ball of the same width in the latent space. With
``kernel="diagonal"`` or ``"full"`` each cluster j also has a learnable precision Λ_j = L_j L_jᵀ (diagonal, or
full through its Cholesky factor L_j), initialised from the covariance of the starting cluster, and q is the
multivariate Student-t density with α degrees of freedom in d latent dimensions,

    q_ij ∝ |Λ_j|^(1/2) · (1 + (z_i − μ_j)ᵀ Λ_j (z_i − μ_j) / α)^(−(α+d)/2),

so that the kernel matches the clusters' shapes (a full-covariance Gaussian mixture start is then kept:
on the 1000 Genomes latent space 99.7 % of the samples keep their mixture cluster, against 98.5 % with
the isotropic kernel).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.mixture import GaussianMixture
from torch import nn

from popcen.models.cae import CAE, reconstruction_loss
from popcen.training import Callback, TrainContext, infer

log = logging.getLogger("popcen")


def soft_assignment(z: torch.Tensor, centroids: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Student-t kernel q (rows sum to one).

    Parameters
    ----------
    z : (n, d) latent vectors
    centroids : (k, d)
    alpha : degrees of freedom of the Student t (1 in DEC)

    Returns
    -------
    (n, k) tensor
    """
    dist2 = torch.cdist(z.float(), centroids.float()).pow(2)  # (n, k)
    kernel = (1.0 + dist2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(dim=1, keepdim=True)


KERNELS = ("isotropic", "diagonal", "full")


def scaled_soft_assignment(
    z: torch.Tensor, centroids: torch.Tensor, precision_tril: torch.Tensor, alpha: float = 1.0
) -> torch.Tensor:
    """Multivariate Student-t kernel with a precision per cluster (rows sum to one).

    Parameters
    ----------
    z : (n, d) latent vectors
    centroids : (k, d)
    precision_tril : (k, d, d) lower-triangular L_j with positive diagonal, precision Λ_j = L_j L_jᵀ
        (diagonal matrices for a diagonal kernel)
    alpha : degrees of freedom

    Returns
    -------
    (n, k) tensor, q_ij ∝ |L_j| · (1 + ||(z_i − μ_j) L_j||² / α)^(−(α+d)/2)
    """
    d = z.shape[1]
    diff = z.float()[:, None, :] - centroids.float()[None, :, :]  # (n, k, d)
    m2 = torch.einsum("nkd,kde->nke", diff, precision_tril.float()).pow(2).sum(dim=2)  # (n, k)
    log_det = torch.log(torch.diagonal(precision_tril.float(), dim1=1, dim2=2)).sum(dim=1)  # (k,)
    log_kernel = log_det[None, :] - (alpha + d) / 2.0 * torch.log1p(m2 / alpha)
    return torch.softmax(log_kernel, dim=1)


def precision_cholesky(latent: np.ndarray, labels: np.ndarray, k: int, kernel: str, reg: float = 1e-4):
    """Cholesky factors L_j (k, d, d) of the inverse covariance of each starting cluster's latent vectors.

    ``reg`` (times the overall variance) is added to the covariance's diagonal; a cluster with fewer than two
    members gets the overall covariance.
    """
    d = latent.shape[1]
    overall = np.cov(latent.T).reshape(d, d)
    ridge = reg * np.trace(overall) / d * np.eye(d)
    factors = []
    for j in range(k):
        members = latent[labels == j]
        cov = np.cov(members.T).reshape(d, d) if len(members) > 1 else overall
        if kernel == "diagonal":
            cov = np.diag(np.diag(cov))
        factors.append(np.linalg.cholesky(np.linalg.inv(cov + ridge)))
    return np.stack(factors)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's auxiliary target p_ij ∝ q_ij² / f_j with f_j = Σ_i q_ij; rows sum to one. (n, k) -> (n, k)"""
    weight = q.pow(2) / q.sum(dim=0, keepdim=True)
    return weight / weight.sum(dim=1, keepdim=True)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(P ‖ Q) = Σ_j p_ij log(p_ij / q_ij), averaged over the rows i; 0·log 0 = 0."""
    eps = torch.finfo(torch.float32).tiny
    terms = torch.where(p > 0, p * (torch.log(p.clamp_min(eps)) - torch.log(q.clamp_min(eps))), 0.0)
    return terms.sum(dim=1).mean()


class CEC(nn.Module):
    """A CAE with K learnable centroids in its latent space; ``forward`` -> (z, x_hat, q)."""

    def __init__(
        self,
        cae: CAE,
        n_clusters: int,
        alpha: float = 1.0,
        freeze_batchnorm: bool = True,
        kernel: str = "isotropic",
    ):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; one of {KERNELS}")
        self.cae = cae
        self.alpha = alpha
        self.freeze_batchnorm = freeze_batchnorm
        self.kernel = kernel
        d = cae.config.latent_dim
        self.centroids = nn.Parameter(torch.zeros(n_clusters, d))  # (K, latent)
        if kernel != "isotropic":
            # log of the Cholesky diagonal (kept positive), and for "full" the strictly lower triangle
            self.log_precision_diag = nn.Parameter(torch.zeros(n_clusters, d))
            if kernel == "full":
                self.precision_lower = nn.Parameter(torch.zeros(n_clusters, d, d))

    def precision_tril(self) -> torch.Tensor:
        """(K, d, d) Cholesky factors L_j of the clusters' precisions (only for a non-isotropic kernel)."""
        tril = torch.diag_embed(self.log_precision_diag.exp())
        if self.kernel == "full":
            tril = tril + torch.tril(self.precision_lower, diagonal=-1)
        return tril

    def set_precision_tril(self, tril: np.ndarray) -> None:
        """Set L_j (K, d, d), lower-triangular with positive diagonal."""
        tril = torch.as_tensor(tril, dtype=torch.float32)
        with torch.no_grad():
            self.log_precision_diag.copy_(torch.log(torch.diagonal(tril, dim1=1, dim2=2)))
            if self.kernel == "full":
                self.precision_lower.copy_(torch.tril(tril, diagonal=-1))

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """Soft assignments q (B, K) of latent vectors z (B, latent)."""
        if self.kernel == "isotropic":
            return soft_assignment(z, self.centroids, self.alpha)
        return scaled_soft_assignment(z, self.centroids, self.precision_tril(), self.alpha)

    def train(self, mode: bool = True) -> CEC:
        """Like ``nn.Module.train``, but with ``freeze_batchnorm`` the batch-norm layers stay in eval mode.

        In train mode a batch-norm layer standardises each batch by that batch's own statistics, so a sample's
        latent vector during a CEC step differs from the one the centroids were fitted to and the one the
        target P is computed from (eval mode, running statistics); the batch-norm after the latent layer
        then re-centres every batch of (unbalanced) clusters. Frozen, the training forward pass is the one
        the clustering sees, and the running statistics of the trained CAE are kept.
        """
        super().train(mode)
        if mode and self.freeze_batchnorm:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    @property
    def n_clusters(self) -> int:
        return self.centroids.shape[0]

    def forward(self, x: torch.Tensor):
        z, x_hat = self.cae(x)  # (B, latent), (B, 1, S, S)
        return z, x_hat, self.assign(z)  # q: (B, K)


INIT_METHODS = ("kmeans", "gmm", "ward")


# Ward's tree holds n² distances: the mixture's Ward start is built on at most this many samples (~0.4 GB).
WARD_START_SAMPLES = 10_000


def ward_start(latent: np.ndarray, k: int, seed: int) -> dict:
    """A Gaussian mixture's starting point from Ward's k clusters of the latent vectors (of a random
    :data:`WARD_START_SAMPLES` of them in a larger cohort): ``means_init`` (k, d), ``precisions_init``
    (k, d, d; a cluster of fewer than two members takes the overall covariance) and ``weights_init`` (k,)."""
    rows = np.arange(len(latent))
    if len(rows) > WARD_START_SAMPLES:
        rows = np.sort(np.random.default_rng(seed).choice(rows, WARD_START_SAMPLES, replace=False))
    x = latent[rows]
    labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)
    tril = precision_cholesky(x, labels, k, "full")
    return {
        "means_init": np.stack([x[labels == j].mean(axis=0) for j in range(k)]),
        "precisions_init": tril @ np.swapaxes(tril, 1, 2),
        "weights_init": np.bincount(labels, minlength=k) / len(labels),
    }


def initial_clusters(latent: np.ndarray, k: int, method: str, seed: int, n_init: int = 20) -> np.ndarray:
    """Hard clusters (n,) of the latent features by k-means, a full-covariance Gaussian mixture or Ward.

    k-means and the mixture run ``n_init`` restarts from k-means++ seeds, and the mixture one more from
    Ward's clusters (:func:`ward_start`, as mclust starts EM from a hierarchical clustering); the best
    restart by inertia / likelihood is kept.
    """
    if method == "kmeans":
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(latent)
    if method == "gmm":
        options = {"n_components": k, "covariance_type": "full", "random_state": seed, "reg_covar": 1e-5}
        # As many k-means++ restarts as k-means: on the 1000 Genomes latent space 5 restarts ended in a
        # local optimum (super_pop ARI 0.895) for 2 of 3 seeds. With the sequence CAE even 20 did at 2 of 3
        # seeds (ARI 0.88, 0.90); the Ward start reached a higher likelihood there (ARI 0.97, 0.97) and
        # the same fit at the third (benchmarks/RESULTS.md, ## pipeline on 1000 Genomes).
        fits = [
            GaussianMixture(**options, n_init=n_init).fit(latent),
            GaussianMixture(**options, **ward_start(latent, k, seed)).fit(latent),
        ]
        best = max(fits, key=lambda gmm: gmm.score(latent))
        return best.predict(latent)
    if method == "ward":
        return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(latent)
    raise ValueError(f"unknown centroid initialisation {method!r}; one of {INIT_METHODS}")


def init_centroids(
    model: CEC, latent: np.ndarray, seed: int, n_init: int = 20, method: str = "kmeans"
) -> np.ndarray:
    """Set the centroids to the means of an initial clustering of the latent features (k-means by default;
    see :func:`initial_clusters`), and for a non-isotropic kernel the precisions to the inverse covariances of
    those clusters; returns that clustering's labels (n,)."""
    labels = initial_clusters(latent, model.n_clusters, method, seed, n_init)
    # An empty cluster (possible for a mixture) keeps a centroid at the overall mean rather than NaN.
    centres = np.stack(
        [
            latent[labels == j].mean(axis=0) if (labels == j).any() else latent.mean(axis=0)
            for j in range(model.n_clusters)
        ]
    )
    with torch.no_grad():
        model.centroids.copy_(torch.as_tensor(centres, dtype=torch.float32))
    if model.kernel != "isotropic":
        model.set_precision_tril(precision_cholesky(latent, labels, model.n_clusters, model.kernel))
    return labels


def cec_loss(model: CEC, x: torch.Tensor, p: torch.Tensor, sigma: float) -> torch.Tensor:
    """σ·KL(P‖Q) + (1−σ)·reconstruction MSE for a batch of images x and their targets p (B, K)."""
    _, x_hat, q = model(x)
    rec = reconstruction_loss(x, x_hat, model.cae.config.n_pixels)
    return sigma * kl_divergence(p, q) + (1.0 - sigma) * rec


def predict_q(model: CEC, loader, device="auto") -> np.ndarray:
    """Soft assignments (n, K) of every sample of a loader that yields (images, index)."""
    return infer(model, loader, lambda m, batch: m(batch[0])[2], device=device)


class TargetRefresh(Callback):
    """Recompute the target P from all samples every ``update_interval`` batches; stop on ``tol``.

    ``all_loader`` yields (images, index) for every sample, in index order. The loss function reads
    ``self.p[index]``. The fraction of samples that changed cluster since the previous refresh is logged
    per epoch (column ``changed``).
    """

    def __init__(self, all_loader, update_interval: int, tol: float):
        self.all_loader = all_loader
        self.update_interval = max(int(update_interval), 1)
        self.tol = tol
        self.p: torch.Tensor | None = None
        self.assignments: np.ndarray | None = None
        self.changed = float("nan")

    def refresh(self, ctx: TrainContext) -> None:
        q = predict_q(ctx.model, self.all_loader, device=ctx.device)
        self.p = target_distribution(torch.as_tensor(q)).to(ctx.device)
        labels = q.argmax(axis=1)
        if self.assignments is not None:
            self.changed = float((labels != self.assignments).mean())
            if self.changed < self.tol:
                ctx.request_stop(
                    f"fewer than tol={self.tol} of the samples changed cluster ({self.changed:.4f})"
                )
        self.assignments = labels

    def on_train_begin(self, ctx: TrainContext) -> None:
        if self.p is None:  # not when resuming: the checkpoint gave the state back
            self.refresh(ctx)
        else:
            self.p = self.p.to(ctx.device)

    def on_batch_end(self, ctx: TrainContext, loss: float) -> None:
        if ctx.step % self.update_interval == 0:
            self.refresh(ctx)

    def on_epoch_end(self, ctx: TrainContext, record: dict) -> dict:
        return {"changed": self.changed}

    def state_dict(self) -> dict:
        return {
            "p": None if self.p is None else self.p.cpu(),
            "assignments": self.assignments,
            "changed": self.changed,
        }

    def load_state_dict(self, state: dict) -> None:
        self.p, self.assignments, self.changed = state["p"], state["assignments"], state["changed"]
