"""GTSAMultiCrop: shapes, packing, and that its boxes name the same image pixels."""
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate

from gtsa_mm.datasets.transforms import GTSA_GEOMETRY_KEYS, GTSAMultiCrop
from gtsa_mm.geometry import view_matrix
from gtsa_mm.models.utils import roi_align_grouped, rot90_batched


def smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    """Low-frequency colour pattern: resizing barely changes it, rotations do."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    channels = []
    for _ in range(3):
        fx, fy = rng.uniform(0.5, 2.0, 2)
        phase = rng.uniform(0, 2 * np.pi)
        channels.append(127 + 100 * np.sin(2 * np.pi * (fx * x / w + fy * y / h) + phase)
                        + 20 * (y / h))  # a vertical ramp: "up" is visible
    return np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)


def no_colour(**kwargs) -> GTSAMultiCrop:
    return GTSAMultiCrop(color_jitter_prob=0., grayscale_prob=0., blur_prob=0., **kwargs)


def test_outputs_shapes_and_types():
    t = GTSAMultiCrop(seed=0)
    out = t(dict(img=smooth_image(240, 320, 0)))
    views = out['img']
    assert len(views) == 10
    assert all(v.shape == (224, 224, 3) for v in views[:2])
    assert all(v.shape == (96, 96, 3) for v in views[2:])
    assert all(v.dtype == np.uint8 and v.flags['C_CONTIGUOUS'] for v in views)
    assert out['crop_boxes'].shape == (10, 4) and out['crop_boxes'].dtype == torch.float32
    assert out['rotation_label'].shape == (10, ) and out['rotation_label'].dtype == torch.int64
    assert out['global_region_boxes'].shape == (2, 10, 4)
    assert out['view_region_boxes'].shape == (10, 2, 4)
    assert set(out['rotation_label'].tolist()) <= {0, 1, 2, 3}


def test_rotate_false_gives_label_zero():
    out = GTSAMultiCrop(rotate=False, seed=1)(dict(img=smooth_image(200, 200, 1)))
    assert out['rotation_label'].eq(0).all()


def test_geometry_survives_pack_inputs_and_default_collate():
    from mmpretrain.datasets.transforms import PackInputs
    t = GTSAMultiCrop(global_size=32, local_size=16, seed=0)
    pack = PackInputs(algorithm_keys=GTSA_GEOMETRY_KEYS)
    batch = default_collate([pack(t(dict(img=smooth_image(64, 80, s)))) for s in range(3)])
    assert len(batch['inputs']) == 10 and batch['inputs'][0].shape == (3, 3, 32, 32)
    sample = batch['data_samples'][0]
    for key in GTSA_GEOMETRY_KEYS:
        assert isinstance(sample.get(key), torch.Tensor), key


def pair_regions(out, t, s, size=7):
    """RoI-align the image content of pair (t, s) out of both views."""
    def as_map(view):
        return torch.from_numpy(view).permute(2, 0, 1)[None].double()

    boxes_t = out['global_region_boxes'][t, s].double().view(1, 1, 4)
    boxes_s = out['view_region_boxes'][s, t].double().view(1, 1, 4)
    region_t = roi_align_grouped(as_map(out['img'][t]), boxes_t, size)[:, 0]
    region_s = roi_align_grouped(as_map(out['img'][s]), boxes_s, size)[:, 0]
    return region_t, region_s


@pytest.mark.parametrize('seed', range(8))
def test_shared_region_pixels_agree_after_rotating_the_teacher_side(seed):
    img = smooth_image(300, 420, seed)
    out = no_colour(seed=seed)(dict(img=img))
    labels = out['rotation_label']
    right, wrong = [], []
    for t in range(2):
        for s in range(10):
            if s == t:
                continue
            region_t, region_s = pair_regions(out, t, s)
            offset = (labels[s] - labels[t]).view(1)
            aligned = rot90_batched(region_t, offset)
            right.append((aligned - region_s).abs().mean().item())
            if offset.item() % 4:
                wrong.append((region_t - region_s).abs().mean().item())
    # Interpolation error only (0..255 scale) ...
    assert max(right) < 4.0, right
    # ... while ignoring the rotation offset does not match (the test can fail).
    if wrong:
        assert np.mean(wrong) > 3 * np.mean(right) + 2


@pytest.mark.parametrize('seed', range(4))
def test_views_show_their_crop_box_turned_by_their_label(seed):
    """Each view equals an antialiased resize of its box, turned with np.rot90."""
    import cv2
    img = smooth_image(480, 640, seed)
    out = no_colour(seed=seed)(dict(img=img))
    for v, size in enumerate([224] * 2 + [96] * 8):
        x0, y0, x1, y1 = out['crop_boxes'][v].int().tolist()
        resized = cv2.resize(img[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
        expected = np.rot90(resized, int(out['rotation_label'][v]))
        diff = np.abs(out['img'][v].astype(float) - expected).mean()
        assert diff < 2.5, (v, diff)
        wrong = np.rot90(resized, int(out['rotation_label'][v]) + 1)
        assert np.abs(out['img'][v].astype(float) - wrong).mean() > 5 * diff


def test_view_matrix_matches_resize_then_rot90_exactly_in_geometry():
    """At level 0 the warp samples exactly where cv2.resize + np.rot90 would."""
    box = np.array([10., 20., 110., 70.])
    for k in range(4):
        m = view_matrix(box, 8, k, (1., 1.))
        # unrotated view pixel centres -> image pixel centres, as cv2.resize maps them
        xs = (np.arange(8) + 0.5) * 100 / 8 + 10 - 0.5
        ys = (np.arange(8) + 0.5) * 50 / 8 + 20 - 0.5
        grid_x, grid_y = np.meshgrid(xs, ys)
        expected_x, expected_y = np.rot90(grid_x, k), np.rot90(grid_y, k)
        v, u = np.mgrid[0:8, 0:8]
        mapped = m @ np.stack([u.ravel(), v.ravel(), np.ones(64)])
        np.testing.assert_allclose(mapped[0].reshape(8, 8), expected_x, atol=1e-9)
        np.testing.assert_allclose(mapped[1].reshape(8, 8), expected_y, atol=1e-9)


def test_channels_first_gives_what_pack_inputs_makes_of_the_views():
    from mmpretrain.datasets.transforms import PackInputs
    img = smooth_image(120, 160, 3)
    hwc = GTSAMultiCrop(global_size=32, local_size=16, seed=5)(dict(img=img))
    chw = GTSAMultiCrop(global_size=32, local_size=16, seed=5, channels_first=True)(
        dict(img=img))
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.uint8 for v in chw['img'])
    assert chw['img_shape'] == hwc['img_shape']
    pack = PackInputs(algorithm_keys=GTSA_GEOMETRY_KEYS)
    packed_hwc, packed_chw = pack(hwc)['inputs'], pack(chw)['inputs']
    assert [v.shape for v in packed_chw] == [(3, 32, 32)] * 2 + [(3, 16, 16)] * 8
    assert all(torch.equal(a, b) for a, b in zip(packed_hwc, packed_chw))


@pytest.mark.parametrize('k', range(4))
def test_integer_box_view_is_resize_then_rot90_and_agrees_with_the_warp(k):
    """The resize path at level 0 gives np.rot90(cv2.resize(box)); the warp of the same
    geometry (a fractional box nudged by 1e-9 px takes that path) agrees to rounding."""
    import cv2
    img = smooth_image(200, 300, 4)
    box = np.array([30., 20., 250., 180.])
    view = GTSAMultiCrop.render_view([img], box, 64, k)
    expected = np.rot90(cv2.resize(img[20:180, 30:250], (64, 64),
                                   interpolation=cv2.INTER_LINEAR), k)
    assert np.array_equal(view, expected)
    warped = GTSAMultiCrop.render_view([img], box + np.array([1e-9, 0, 0, 0]), 64, k)
    assert np.abs(warped.astype(int) - view).max() <= 1


def test_colour_operations_match_their_opencv_definitions():
    """One-pass colour matrices and the separable blur against OpenCV's own ops."""
    import cv2

    from gtsa_mm.datasets.transforms.image_ops import GRAY_MATRIX_BGR, gaussian_blur
    img = smooth_image(64, 64, 6)
    gray = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert np.abs(cv2.transform(img, GRAY_MATRIX_BGR).astype(int) - gray).max() <= 1
    f = 1.6  # saturation: blend with the grayscale image (can saturate)
    reference = np.clip(np.rint(f * img.astype(float) + (1 - f) * gray), 0, 255)
    saturated = cv2.transform(img, f * np.eye(3) + (1 - f) * GRAY_MATRIX_BGR)
    assert np.abs(saturated - reference).max() <= 2
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for sigma in (0.3, 1.0, 2.0):
        for image in (img, noise):
            blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
            assert np.abs(gaussian_blur(image, sigma).astype(int) - blurred).max() <= 1
        assert np.abs(gaussian_blur(noise, sigma).astype(int) - noise).mean() > 0.5
