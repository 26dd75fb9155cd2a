"""The plain-PyTorch RoIAlign equals mmcv.ops.roi_align(aligned=True, sampling_ratio=0)."""
import pytest
import torch

from gtsa_mm.models.utils import roi_align, roi_align_grouped, rot90_batched, rot90_table


def random_rois(gen, num, batch, extent):
    xy = torch.rand(num, 2, generator=gen) * extent * 1.2 - 0.1 * extent
    wh = torch.rand(num, 2, generator=gen) * extent * 0.9
    idx = torch.randint(0, batch, (num, 1), generator=gen).float()
    return torch.cat([idx, xy, xy + wh], 1)


@pytest.mark.parametrize('output_size,scale,hw', [(10, 1 / 16, (14, 14)), (4, 1 / 16, (6, 6)),
                                                  (7, 1.0, (9, 13)), (3, 0.5, (5, 8))])
def test_matches_mmcv_roi_align(output_size, scale, hw):
    mmcv_ops = pytest.importorskip('mmcv.ops')
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 5, *hw, generator=gen)
    rois = random_rois(gen, 40, 3, max(hw) / scale)
    # degenerate and edge boxes: zero size, the whole map, outside the map
    h, w = hw
    rois = torch.cat([rois, torch.tensor([[0, 3., 3., 3., 3.],
                                          [1, 0., 0., w / scale, h / scale],
                                          [2, -40., -40., -20., -20.]])])
    expected = mmcv_ops.roi_align(feats, rois, output_size, scale, 0, 'avg', True)
    actual = roi_align(feats, rois, output_size, scale)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


def test_grouped_equals_per_roi_and_bounded_samples_equal_exact():
    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(4, 6, 14, 14, generator=gen)
    xy = torch.rand(4, 3, 2, generator=gen) * 150
    wh = torch.rand(4, 3, 2, generator=gen) * (224 - xy)
    boxes = torch.cat([xy, xy + wh], -1)
    grouped = roi_align_grouped(feats, boxes, 10, 1 / 16)
    bounded = roi_align_grouped(feats, boxes, 10, 1 / 16, max_samples=3)
    torch.testing.assert_close(grouped, bounded)
    rois = torch.cat([torch.arange(4).repeat_interleave(3)[:, None].float(),
                      boxes.reshape(-1, 4)], 1)
    single = roi_align(feats, rois, 10, 1 / 16).view(4, 3, 6, 10, 10)
    torch.testing.assert_close(grouped, single)


def test_gradients_flow_to_features():
    feats = torch.randn(2, 3, 6, 6, requires_grad=True)
    boxes = torch.tensor([[[0., 0., 96., 96.]], [[10., 20., 50., 90.]]])
    roi_align_grouped(feats, boxes, 4, 1 / 16).sum().backward()
    assert feats.grad.abs().sum() > 0


def test_rot90_batched_equals_torch_rot90():
    x = torch.randn(12, 5, 4, 4)
    k = torch.tensor([0, 1, 2, 3, -1, 5, 2, 0, 3, 1, 6, -2])
    out = rot90_batched(x, k)
    for i in range(12):
        torch.testing.assert_close(out[i], torch.rot90(x[i], int(k[i]), dims=(-2, -1)))
    table = rot90_table(4)
    torch.testing.assert_close(rot90_batched(x, k, table), out)


@pytest.mark.parametrize('k', range(4))
def test_regions_of_a_turned_map_are_the_turned_regions(k):
    """The three users of the quarter-turn rule agree: RoIAlign of ``torch.rot90(map, k)``
    at ``rotate_boxes(box, k)`` equals ``rot90_batched`` of RoIAlign of the map at ``box``
    (a teacher region turned to the student's orientation is what the student sees)."""
    import numpy as np

    from gtsa_mm.geometry import rotate_boxes
    gen = torch.Generator().manual_seed(k)
    feats = torch.randn(3, 5, 14, 14, generator=gen)
    xy = torch.rand(3, 6, 2, generator=gen) * 150
    wh = torch.rand(3, 6, 2, generator=gen) * (224 - xy)
    boxes = torch.cat([xy, xy + wh], -1)
    turned_boxes = torch.from_numpy(rotate_boxes(boxes.numpy(), k, 224.)).float()
    of_turned = roi_align_grouped(torch.rot90(feats, k, dims=(-2, -1)), turned_boxes, 10,
                                  1 / 16)
    regions = roi_align_grouped(feats, boxes, 10, 1 / 16)  # (3, 6, C, 10, 10)
    turned = rot90_batched(regions.flatten(0, 1), torch.full((18, ), k)).view_as(regions)
    torch.testing.assert_close(of_turned, turned, atol=1e-5, rtol=1e-4)  # float32 boxes
    if k % 2:  # turned the other way the regions differ: the test can fail
        wrong = rot90_batched(regions.flatten(0, 1), torch.full((18, ), -k))
        assert not np.allclose(of_turned.flatten(0, 1).numpy(), wrong.numpy(), atol=1e-3)
