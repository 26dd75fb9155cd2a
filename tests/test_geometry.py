"""Property tests of gtsa_mm.geometry: boxes, overlaps, rotations, shared regions."""
import numpy as np
import pytest
import torch

from gtsa_mm.geometry import (
    GTSA_GEOMETRY_KEYS,
    box_area,
    box_intersection,
    quarter_turn,
    quarter_turn_matrix,
    rotate_boxes,
    sample_crop_boxes,
    sample_overlapping_crops,
    shared_region_boxes,
    view_matrix,
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


# --------------------------------------------------------------- quarter-turn rule
def test_quarter_turn_moves_a_painted_pixel_as_np_rot90_does():
    rng = np.random.default_rng(0)
    for _ in range(50):
        size = int(rng.integers(2, 30))
        col, row = rng.integers(0, size, 2)
        mask = np.zeros((size, size), bool)
        mask[row, col] = True
        for k in range(-4, 8):
            turned_row, turned_col = np.argwhere(np.rot90(mask, k))[0]
            np.testing.assert_array_equal(quarter_turn([col, row], k, size - 1),
                                          [turned_col, turned_row])


def test_quarter_turn_matrix_is_quarter_turn_in_homogeneous_form():
    rng = np.random.default_rng(1)
    points = rng.uniform(-10, 60, (20, 2))
    for k in range(-1, 6):
        matrix = quarter_turn_matrix(k, 37.5)
        turned = (matrix @ np.c_[points, np.ones(20)].T).T[:, :2]
        np.testing.assert_allclose(turned, quarter_turn(points, k, 37.5), atol=1e-12)
        assert np.array_equal(matrix[2], [0, 0, 1])


@pytest.mark.parametrize('k', range(4))
def test_rotate_boxes_turns_the_corners_by_quarter_turn(k):
    rng = np.random.default_rng(k)
    xy = rng.uniform(0, 80, (200, 2, 2))
    boxes = np.concatenate([xy.min(1), xy.max(1)], -1)
    x0, y0, x1, y1 = boxes.T
    corners = np.stack([np.stack(c, -1) for c in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))], 1)
    turned = quarter_turn(corners, k, 96.)  # (200, 4 corners, 2)
    expected = np.concatenate([turned.min(1), turned.max(1)], -1)
    np.testing.assert_allclose(rotate_boxes(boxes, k, 96.), expected, atol=1e-12)


@pytest.mark.parametrize('k', range(4))
def test_view_matrix_undoes_the_views_quarter_turn(k):
    """GTSAMultiCrop's warp: a turned-view pixel comes from the unturned-view pixel
    ``quarter_turn(pixel, -k, size - 1)``, resized from the crop box as cv2.resize maps
    pixel centres."""
    rng = np.random.default_rng(10 + k)
    for _ in range(20):
        xy = rng.uniform(0, 500, (2, 2))
        box = np.concatenate([xy.min(0), xy.max(0)])
        size = int(rng.integers(4, 64))
        pixels = rng.integers(0, size, (30, 2)).astype(np.float64)  # (u, v) in the view
        unturned = quarter_turn(pixels, -k, size - 1)
        scale = (box[2:] - box[:2]) / size
        expected = box[:2] + (unturned + 0.5) * scale - 0.5
        matrix = view_matrix(box, size, k, (1., 1.))
        actual = pixels @ matrix[:, :2].T + matrix[:, 2]
        np.testing.assert_allclose(actual, expected, atol=1e-9)


@pytest.mark.parametrize('size', [1, 3, 4, 10])
def test_rot90_table_moves_every_cell_by_quarter_turn(size):
    """The RoI cell tables: the value of source cell (x, y) lands on the cell
    ``quarter_turn((x, y), k, size - 1)`` of the turned grid."""
    from gtsa_mm.models.utils import rot90_table
    table = rot90_table(size).numpy()
    rows, cols = np.mgrid[0:size, 0:size]
    for k in range(4):
        turned = np.empty(size * size, np.int64)
        turned[table[k]] = np.arange(size * size)  # where each source cell went
        x, y = quarter_turn(np.stack([cols, rows], -1).reshape(-1, 2), k, size - 1).T
        np.testing.assert_array_equal(turned, (y * size + x).astype(np.int64))


# --------------------------------------------------------------- geometry keys
def test_config_geometry_keys_are_the_packages():
    """Configs cannot import GTSA_GEOMETRY_KEYS: every pretraining config packs exactly it."""
    from pathlib import Path

    from mmengine.config import Config

    from gtsa_mm.datasets.transforms import GTSA_GEOMETRY_KEYS as exported
    from gtsa_mm.models.algorithms.gtsa import GEOMETRY_FIELDS
    assert exported is GTSA_GEOMETRY_KEYS
    assert set(GEOMETRY_FIELDS) == set(GTSA_GEOMETRY_KEYS) - {'crop_boxes'}
    repo = Path(__file__).resolve().parents[1]
    checked = []
    for path in sorted((repo / 'configs').rglob('*.py')):
        if 'GTSAMultiCrop' not in path.read_text() and path.parent.name != 'gtsa':
            continue
        cfg = Config.fromfile(str(path))
        pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get('pipeline')
        if not pipeline or not any(t['type'] == 'GTSAMultiCrop' for t in pipeline):
            continue
        pack = [t for t in pipeline if t['type'] == 'PackInputs']
        assert len(pack) == 1 and list(pack[0]['algorithm_keys']) == list(GTSA_GEOMETRY_KEYS), \
            path
        checked.append(path.name)
    assert len(checked) >= 3, checked  # paper COCO / ADE20K and the demo
