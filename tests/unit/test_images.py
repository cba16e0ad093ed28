"""Genotype images: scaling, missing calls, padding to the next square, the variance cap."""

import numpy as np
import pytest

from popcen.images import genotype_images, image_side, scale_genotypes, select_variants, variant_variance


def test_image_side_is_the_next_square():
    assert image_side(4238) == 66  # the paper's example
    assert image_side(4225) == 65 and image_side(4226) == 66
    assert image_side(1) == 1
    with pytest.raises(ValueError):
        image_side(0)


def test_scaling_and_missing_calls_take_the_variant_mean():
    gn = np.array([[0, 2, -1], [2, 1, -1], [-1, 0, -1]], dtype=np.int8)
    x = scale_genotypes(gn)
    # variant 0: calls 0 and 2 -> scaled 0 and 1, the missing one gets their mean 0.5; variant 2 has no call -> 0
    np.testing.assert_allclose(x, [[0, 1, 0], [1, 0.5, 0], [0.5, 0, 0]])
    assert x.dtype == np.float32
    with pytest.raises(ValueError):
        scale_genotypes(np.array([[3]]))


def test_images_are_row_major_and_zero_padded():
    gn = np.array([[0, 1, 2, 1, 0], [2, 2, 2, 2, 2]], dtype=np.int8)
    images, kept = genotype_images(gn)
    assert images.shape == (2, 1, 3, 3)
    np.testing.assert_allclose(images[0, 0], [[0, 0.5, 1], [0.5, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(images[1, 0].ravel()[5:], 0)  # padding
    assert kept.tolist() == [0, 1, 2, 3, 4]


def test_cap_keeps_the_highest_variance_variants_in_genome_order():
    gn = np.array([[0, 0, 0, 0], [0, 2, 1, 0], [0, 2, 2, 1], [0, 0, 1, 1]], dtype=np.int8)
    # variances by hand: v0 = 0, v1 = 1, v2 = 0.5, v3 = 0.25
    np.testing.assert_allclose(variant_variance(gn), [0, 1, 0.5, 0.25])
    assert select_variants(gn, 2).tolist() == [1, 2]
    assert select_variants(gn, 3).tolist() == [1, 2, 3]
    assert select_variants(gn, None).tolist() == [0, 1, 2, 3]
    images, kept = genotype_images(gn, max_variants=2)
    assert images.shape == (4, 1, 2, 2) and kept.tolist() == [1, 2]
    np.testing.assert_allclose(images[2, 0].ravel(), [1, 1, 0, 0])


def test_images_of_given_variants_are_those_of_the_same_columns():
    rng = np.random.default_rng(0)
    gn = rng.integers(-1, 3, size=(5, 30)).astype(np.int8)
    index = [3, 7, 8, 20]
    images, kept = genotype_images(gn, variant_index=index)
    expected, _ = genotype_images(gn[:, index])
    assert kept.tolist() == index
    np.testing.assert_array_equal(images, expected)
