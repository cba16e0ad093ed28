"""k-mer counting against a naive count, canonical k-mers, and the saved vocabulary."""

from collections import Counter

import numpy as np
import pytest

from popcen.introgression import kmers


def naive_counts(seq: str, k: int, canonical: bool) -> Counter:
    comp = str.maketrans("ACGT", "TGCA")
    c = Counter()
    for i in range(len(seq) - k + 1):
        w = seq[i : i + k].upper()
        if set(w) - set("ACGT"):
            continue
        if canonical:
            w = min(w, w[::-1].translate(comp))
        c[w] += 1
    return c


def random_seqs(seed=0):
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b"ACGTNacgt", np.uint8)
    lengths = [0, 1, 4, 5, 6, 37, 300, 2]
    return [
        alphabet[rng.choice(9, n, p=[0.2, 0.2, 0.2, 0.2, 0.04, 0.04, 0.04, 0.04, 0.04])].tobytes()
        for n in lengths
    ]


@pytest.mark.parametrize("k", [1, 2, 4, 5])
@pytest.mark.parametrize("canonical", [False, True])
def test_counts_equal_naive_count(k, canonical):
    seqs = random_seqs(k)
    # a tiny batch size forces several batches, so the batch joins are tested too
    m = kmers.count_kmers(seqs, k, canonical, batch_bases=50).toarray()
    assert m.shape == (len(seqs), 4**k)
    for row, s in zip(m, seqs, strict=True):
        expected = np.zeros(4**k, int)
        for w, n in naive_counts(s.decode(), k, canonical).items():
            expected[kmers.kmer_code(w)] = n
        assert (row == expected).all()


def test_windows_do_not_cross_sequences():
    # "AC" + "GT": the 2-mer CG exists only across the border and must not be counted
    m = kmers.count_kmers([b"AC", b"GT"], 2).toarray()
    assert m[:, kmers.kmer_code("CG")].sum() == 0
    assert m[0, kmers.kmer_code("AC")] == 1 and m[1, kmers.kmer_code("GT")] == 1


def test_reverse_complement_codes():
    rc = kmers.reverse_complement_codes(3)
    assert kmers.kmer_string(rc[kmers.kmer_code("AAC")], 3) == "GTT"
    assert (rc[rc] == np.arange(64)).all()


def test_gene_matrix_uses_the_training_vocabulary(tmp_path):
    train = [b"AAAACCCC", b"ACACACAC"]
    full = kmers.count_kmers(train, 3)
    vocab = kmers.build_vocabulary(full)
    path = tmp_path / "vocab.json"
    kmers.save_vocabulary(vocab, 3, False, path)
    genes = [b"GGGGTTTTAAAA", b"ACAC"]  # GGG, TTT... were never seen in training
    m = kmers.matrix_on_vocabulary(genes, *kmers.load_vocabulary(path)).toarray()
    words = [kmers.kmer_string(c, 3) for c in vocab]
    assert words == sorted(set(naive_counts("AAAACCCC", 3, False)) | set(naive_counts("ACACACAC", 3, False)))
    assert m.shape == (2, len(words))
    for row, g in zip(m, genes, strict=True):
        c = naive_counts(g.decode(), 3, False)
        assert row.tolist() == [c[w] for w in words]


def test_top_kmers_per_class():
    counts = kmers.count_kmers([b"AAAA", b"AAAA", b"CCCC"], 2)
    vocab = kmers.build_vocabulary(counts)
    X = kmers.restrict(counts, vocab)
    top = kmers.top_kmers_per_class(X, np.array([1, 1, 0]), [kmers.kmer_string(c, 2) for c in vocab], 1)
    assert top.set_index("label").loc[1, "kmer"] == "AA"
    assert top.set_index("label").loc[0, "kmer"] == "CC"
