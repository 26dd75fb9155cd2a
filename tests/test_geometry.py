"""Property tests of gtsa_mm.geometry: boxes, overlaps, rotations, shared regions."""
import numpy as np
import pytest
import torch

from gtsa_mm.geometry import (
    box_area,
    box_intersection,
    rotate_boxes,
    sample_crop_boxes,
    sample_overlapping_crops,
    shared_region_boxes,
)


def painted_bbox(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


@pytest.mark.parametrize('seed', range(20))
def test_rotate_boxes_matches_rot90_of_pixels(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(4, 40))
    x0, x1 = np.sort(rng.choice(size + 1, 2, replace=False))
    y0, y1 = np.sort(rng.choice(size + 1, 2, replace=False))
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    box = np.array([x0, y0, x1, y1], dtype=np.float64)
    for k in range(-4, 8):
        expected = painted_bbox(np.rot90(mask, k))
        np.testing.assert_array_equal(rotate_boxes(box, k, size), expected)
        # torch.rot90 over the last two dims is the same rotation
        t = torch.rot90(torch.from_numpy(mask), k, dims=(-2, -1)).numpy()
        np.testing.assert_array_equal(rotate_boxes(box, k, size), painted_bbox(t))


def test_four_quarter_turns_are_identity_and_inverse():
    rng = np.random.default_rng(0)
    boxes = np.sort(rng.uniform(0, 50, (100, 2, 2)), axis=1).transpose(0, 2, 1).reshape(100, 4)
    boxes = boxes[:, [0, 2, 1, 3]]  # x0, y0, x1, y1 with x0 <= x1, y0 <= y1
    k = rng.integers(0, 4, 100)
    out = boxes
    for _ in range(4):
        out = rotate_boxes(out, 1, 50.)
    np.testing.assert_allclose(out, boxes)
    np.testing.assert_allclose(rotate_boxes(rotate_boxes(boxes, k, 50.), -k, 50.), boxes)
    np.testing.assert_allclose(box_area(rotate_boxes(boxes, k, 50.)), box_area(boxes))


def test_sample_crop_boxes_follow_random_resized_crop():
    rng = np.random.default_rng(0)
    h, w = 480, 640
    boxes = sample_crop_boxes(rng, h, w, (0.3, 1.0), (3 / 4, 4 / 3), 2000)
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= w) and np.all(boxes[:, 3] <= h)
    area = box_area(boxes) / (h * w)
    aspect = (boxes[:, 2] - boxes[:, 0]) / (boxes[:, 3] - boxes[:, 1])
    assert area.min() > 0.28 and area.max() <= 1.0
    assert aspect.min() > 0.74 and aspect.max() < 1.35
    np.testing.assert_array_equal(boxes, np.round(boxes))


@pytest.mark.parametrize('shape', [(480, 640), (100, 100), (40, 4000), (4000, 40), (20, 30)])
@pytest.mark.parametrize('seed', range(5))
def test_overlap_rule_and_boxes_inside_image(shape, seed):
    h, w = shape
    rng = np.random.default_rng(seed)
    boxes = sample_overlapping_crops(rng, h, w, 2, 8, (0.3, 1.0), (0.1, 0.3), (3 / 4, 4 / 3))
    assert boxes.shape == (10, 4)
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= w) and np.all(boxes[:, 3] <= h)
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    overlap = box_area(box_intersection(boxes[:2, None], boxes[None])) / (h * w)
    # The rule holds, or (when no crop of the allowed sizes can satisfy it, e.g. on a
    # 4000 x 40 image) the crop falls back to the region all globals share.
    common = box_intersection(boxes[0], boxes[1])
    assert overlap[0, 1] > 0.02 or np.array_equal(boxes[1], boxes[0])
    for v in range(2, 10):
        assert np.all(overlap[:, v] > 0.01) or np.array_equal(boxes[v], common)
    # every pair shares a non-empty region
    assert np.all(overlap > 0)
    if shape in [(480, 640), (100, 100)]:  # ordinary images never need the fallback
        assert overlap[0, 1] > 0.02 and np.all(overlap[:, 2:] > 0.01)


@pytest.mark.parametrize('seed', range(10))
def test_shared_region_boxes_stay_inside_views_and_match_areas(seed):
    rng = np.random.default_rng(seed)
    h, w = 300, 500
    boxes = sample_overlapping_crops(rng, h, w, 2, 8, (0.3, 1.0), (0.1, 0.3), (3 / 4, 4 / 3))
    labels = rng.integers(0, 4, 10)
    sizes = [224] * 2 + [96] * 8
    in_global, in_view = shared_region_boxes(boxes, labels, sizes, 2)
    assert in_global.shape == (2, 10, 4) and in_view.shape == (10, 2, 4)
    eps = 1e-3
    assert np.all(in_global >= -eps) and np.all(in_global <= 224 + eps)
    for v in range(10):
        assert np.all(in_view[v] >= -eps) and np.all(in_view[v] <= sizes[v] + eps)
    # The shared region's area scales with each view's resize factor.
    shared = box_area(box_intersection(boxes[:2, None], boxes[None]))
    for g in range(2):
        scale_g = 224 ** 2 / box_area(boxes[g])
        np.testing.assert_allclose(box_area(in_global[g]), shared[g] * scale_g, rtol=1e-4)
        for v in range(10):
            scale_v = sizes[v] ** 2 / box_area(boxes[v])
            np.testing.assert_allclose(box_area(in_view[v, g]), shared[g, v] * scale_v,
                                       rtol=1e-4)
    # A global view paired with itself shares the whole (rotated) view.
    for g in range(2):
        np.testing.assert_allclose(in_global[g, g], [0, 0, 224, 224], atol=1e-4)
