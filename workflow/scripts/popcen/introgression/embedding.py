"""k-mer embeddings: Word2Vec over the sequences read as sentences of overlapping k-mers, then PCA, and UMAP
and t-SNE of the principal components."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from popcen.introgression.kmers import _window_codes, canonical_codes, kmer_strings

log = logging.getLogger("popcen")


def kmer_sentences(seqs: list[bytes], k: int, canonical: bool) -> list[list[str]]:
    """Each sequence as the list of its overlapping k-mers (canonical when asked), skipping non-ACGT windows."""
    words = np.array(kmer_strings(range(4**k), k), dtype=object)
    canon = canonical_codes(k) if canonical else None
    sentences = []
    for s in seqs:
        _, codes = _window_codes([s], k)
        if canon is not None:
            codes = canon[codes]
        sentences.append(words[codes].tolist())
    return sentences


def word2vec_vectors(
    sentences, vector_size: int, window: int, epochs: int, seed: int, workers: int = 1
) -> pd.DataFrame:
    """One row per k-mer (index), ``vector_size`` columns; CBOW, as gensim's default. One worker makes the
    vectors reproducible."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=sentences,
        vector_size=vector_size,
        window=window,
        min_count=1,
        sg=0,
        epochs=epochs,
        seed=seed,
        workers=workers,
    )
    kv = model.wv
    return pd.DataFrame(kv.vectors, index=list(kv.index_to_key)).sort_index()


def project(
    vectors: pd.DataFrame, pca_components: int, n_neighbors: int, seed: int, perplexity: float = 30.0
) -> pd.DataFrame:
    """PCA (to at most ``pca_components`` dimensions), then 2-D UMAP and 2-D t-SNE of the components;
    columns kmer, pc1, pc2, umap1, umap2, tsne1, tsne2. The t-SNE perplexity is capped at (n - 1) / 3 for
    n k-mers (sklearn requires it below n)."""
    import umap
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    X = vectors.to_numpy()
    n_comp = max(2, min(pca_components, X.shape[0] - 1, X.shape[1]))
    pcs = PCA(n_components=n_comp, random_state=seed).fit_transform(X)
    reducer = umap.UMAP(n_neighbors=min(n_neighbors, X.shape[0] - 1), random_state=seed, n_jobs=1)
    xy = reducer.fit_transform(pcs)
    tsne = TSNE(
        n_components=2,
        perplexity=max(1.0, min(perplexity, (X.shape[0] - 1) / 3)),
        init="pca",
        random_state=seed,
    ).fit_transform(pcs)
    return pd.DataFrame(
        {
            "kmer": vectors.index,
            "pc1": pcs[:, 0],
            "pc2": pcs[:, 1],
            "umap1": xy[:, 0],
            "umap2": xy[:, 1],
            "tsne1": tsne[:, 0],
            "tsne2": tsne[:, 1],
        }
    )


def kmer_embedding(seqs: list[bytes], k: int, canonical: bool, settings: dict, seed: int) -> pd.DataFrame:
    """2-D map of the k-mers: Word2Vec on (a random subset of ``settings["max_sequences"]``) sequences, then
    PCA, UMAP and t-SNE (:func:`project`). ``settings``: the ``introgression.embedding`` section."""
    if len(seqs) > settings["max_sequences"]:
        pick = np.sort(
            np.random.default_rng(seed).choice(len(seqs), settings["max_sequences"], replace=False)
        )
        seqs = [seqs[i] for i in pick]
    log.info("Word2Vec on %d sequences (k=%d), then PCA, UMAP and t-SNE", len(seqs), k)
    vectors = word2vec_vectors(
        kmer_sentences(seqs, k, canonical),
        settings["vector_size"],
        settings["window"],
        settings["epochs"],
        seed,
    )
    return project(
        vectors, settings["pca_components"], settings["umap_neighbors"], seed, settings["tsne_perplexity"]
    )
