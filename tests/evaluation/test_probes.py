"""The dense probes on planted cases whose answers are known."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gtsa_mm.evaluation import (
    DenseProbeData,
    DenseProbeSettings,
    build_memory_bank,
    collapse_statistics,
    evaluate_backbone,
    knn_label_transfer,
    linear_segmentation_probe,
    nn_retrieval_probe,
    paired_difference,
    patch_label_distributions,
    patch_majority_labels,
    position_probe,
    rotation_probe,
    segmentation_scores,
)

IGNORE = 255


def test_paired_difference_pairs_by_position():
    paired = paired_difference([3.0, 1.0, 2.0], [1.0, 2.0, 2.0])
    assert paired['runs'] == [2.0, -1.0, 0.0]
    assert paired['mean'] == pytest.approx(1 / 3)
    assert paired['std'] == pytest.approx(np.std([2.0, -1.0, 0.0]))
    assert paired['wins'] == 1  # a tie is not a win
    empty = paired_difference([], [])
    assert empty['runs'] == [] and empty['wins'] == 0 and math.isnan(empty['mean'])


# ----------------------------------------------------------------------------- metrics
def test_segmentation_scores_hand_computed():
    gt = np.array([[IGNORE, 0, 0, 1]])
    pred = np.array([[1, 0, 1, 1]])  # the ignored pixel's prediction does not count
    scores = segmentation_scores(pred, gt, num_classes=3)
    assert scores['IoU'][0] == pytest.approx(50) and scores['IoU'][1] == pytest.approx(50)
    assert math.isnan(scores['IoU'][2])  # class 2: in neither map, left out of the mean
    assert scores['mIoU'] == pytest.approx(50) and scores['aAcc'] == pytest.approx(200 / 3)


def test_segmentation_scores_equal_mmseg_iou_metric():
    from mmseg.evaluation import IoUMetric

    rng = np.random.default_rng(0)
    num_classes = 5
    gt = rng.integers(0, num_classes, (3, 20, 24))
    gt[rng.random(gt.shape) < 0.2] = IGNORE
    gt[gt == 4] = 3  # class 4 absent from the ground truth ...
    pred = rng.integers(0, num_classes - 1, gt.shape)  # ... and from the predictions
    areas = [IoUMetric.intersect_and_union(torch.from_numpy(p), torch.from_numpy(g),
                                           num_classes, IGNORE) for p, g in zip(pred, gt)]
    totals = [sum(a[i] for a in areas) for i in range(4)]
    ref = IoUMetric.total_area_to_metrics(*totals, metrics=['mIoU'])
    ours = segmentation_scores(pred, gt, num_classes)
    # mmseg sums in float32
    assert ours['mIoU'] == pytest.approx(100 * np.nanmean(np.asarray(ref['IoU'])), abs=1e-4)
    assert ours['aAcc'] == pytest.approx(100 * float(ref['aAcc']), abs=1e-4)
    np.testing.assert_allclose(ours['IoU'], 100 * np.asarray(ref['IoU']), atol=1e-4)


def test_segmentation_scores_reject_out_of_range_predictions():
    with pytest.raises(ValueError, match='class indices'):
        segmentation_scores(np.array([3]), np.array([0]), num_classes=3)


# ----------------------------------------------------------------------------- planted data
def planted_maps(num_images: int, grid: int, num_classes: int, dims: int, noise: float,
                 seed: int):
    """Token maps that hold a one-hot code of their cell's class (+ noise), and label maps
    of one pixel per token (so upsampling is exact), a tenth of them ignored."""
    g = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, num_classes, (num_images, grid, grid), generator=g)
    maps = noise * torch.randn(num_images, dims, grid, grid, generator=g)
    maps[:, :num_classes] += F.one_hot(classes, num_classes).permute(0, 3, 1, 2).float()
    labels = classes.numpy().astype(np.int64)
    labels[torch.rand(labels.shape, generator=g).numpy() < 0.1] = IGNORE
    return maps, labels


def test_patch_majority_labels_and_distributions():
    labels = np.full((1, 4, 4), IGNORE)
    labels[0, :2, :2] = [[2, 2], [2, IGNORE]]
    labels[0, 2:, 2:] = 0
    labels[0, 0, 2] = 1
    np.testing.assert_array_equal(patch_majority_labels(labels, (2, 2), 3)[0],
                                  [[2, IGNORE], [IGNORE, 0]])
    dist = patch_label_distributions(labels, (2, 2), 3)[0]
    np.testing.assert_allclose(dist[0, 0], [0, 0, 0.75])
    np.testing.assert_allclose(dist[0, 1], [0, 0.25, 0])  # ignored pixels count for no class
    np.testing.assert_allclose(dist[1, 0], [0, 0, 0])
    np.testing.assert_allclose(dist[1, 1], [1, 0, 0])


def test_linear_probe_recovers_planted_classes():
    train, train_labels = planted_maps(12, 6, 4, 10, 0.1, seed=0)
    val, val_labels = planted_maps(4, 6, 4, 10, 0.1, seed=1)
    out = linear_segmentation_probe(train, train_labels, val, val_labels, 4)
    assert out['linear_mIoU'] == pytest.approx(100) and out['linear_aAcc'] == pytest.approx(100)
    noise = linear_segmentation_probe(torch.randn_like(train), train_labels,
                                      torch.randn_like(val), val_labels, 4)
    assert noise['linear_mIoU'] < 40


def test_knn_label_transfer_hand_computed():
    queries = torch.tensor([[1., 0.]])
    bank = torch.tensor([[1., 0.], [0.6, 0.8], [0., 1.]])
    dists = torch.tensor([[1., 0.], [0., 1.], [0., 1.]])
    scores = knn_label_transfer(queries, bank, dists, k=2, temperature=0.1)
    w0 = math.exp(10) / (math.exp(10) + math.exp(6))  # softmax over the 2 nearest: 1.0, 0.6
    torch.testing.assert_close(scores, torch.tensor([[w0, 1 - w0]]))
    # k larger than the bank: every entry votes
    assert knn_label_transfer(queries, bank, dists, k=30).shape == (1, 2)
    with pytest.raises(ValueError, match='empty'):
        knn_label_transfer(queries, bank[:0], dists[:0])


def test_memory_bank_keeps_labelled_patches_and_samples_per_image():
    maps, labels = planted_maps(4, 4, 3, 6, 0.1, seed=0)
    labels[0] = IGNORE  # an image without labels gives no bank entries
    feats, dists = build_memory_bank(maps, labels, 3)
    assert len(feats) == int((labels != IGNORE).sum())  # one bank entry per labelled patch
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(len(feats)))
    assert bool((dists.sum(1) > 0).all())
    sampled, _ = build_memory_bank(maps, labels, 3, bank_size=20, seed=0)
    assert len(sampled) == 3 * 5  # 20 // 4 per image, none from the unlabelled one
    assert len(build_memory_bank(maps, labels, 3, bank_size=4 * 16)[0]) == len(feats)
    again, _ = build_memory_bank(maps, labels, 3, bank_size=20, seed=0)
    torch.testing.assert_close(sampled, again)
    with pytest.raises(ValueError, match='bank_size'):
        build_memory_bank(maps, labels, 3, bank_size=3)


def test_nn_retrieval_recovers_planted_classes():
    train, train_labels = planted_maps(12, 6, 4, 10, 0.1, seed=0)
    val, val_labels = planted_maps(4, 6, 4, 10, 0.1, seed=1)
    out = nn_retrieval_probe(train, train_labels, val, val_labels, 4)
    assert out['nn_mIoU'] == pytest.approx(100)
    assert out['nn_bank_size'] == int((train_labels != IGNORE).sum())
    small = nn_retrieval_probe(train, train_labels, val, val_labels, 4, bank_size=120)
    assert small['nn_bank_size'] == 120 and small['nn_mIoU'] == pytest.approx(100)
    noise = nn_retrieval_probe(torch.randn_like(train), train_labels, torch.randn_like(val),
                               val_labels, 4)
    assert noise['nn_mIoU'] < 40


# ----------------------------------------------------------------------------- sensitivity
def _position_features(n: int, side: int, dims: int, noise: float, seed: int) -> torch.Tensor:
    """Tokens holding a one-hot code of their row and column, plus noise."""
    g = torch.Generator().manual_seed(seed)
    feats = noise * torch.randn(n, dims, side, side, generator=g)
    for i in range(side):
        feats[:, i, i, :] += 1
        feats[:, side + i, :, i] += 1
    return feats


def test_position_probe_separates_position_from_noise():
    side, dims = 6, 16
    g = torch.Generator().manual_seed(0)
    noise = position_probe(torch.randn(20, dims, side, side, generator=g),
                           torch.randn(5, dims, side, side, generator=g))
    coded = position_probe(_position_features(20, side, dims, 0.2, 0),
                           _position_features(5, side, dims, 0.2, 1))
    assert noise['pos_chance'] == pytest.approx(100 / side)
    assert noise['pos_acc'] < 35
    assert coded['pos_acc'] > 90


def test_rotation_probe_separates_turns_from_noise():
    g = torch.Generator().manual_seed(0)
    turns = torch.arange(4).repeat(10)
    coded = F.one_hot(turns, 8).float() + 0.2 * torch.randn(40, 8, generator=g)
    assert rotation_probe(coded, turns, coded.flip(0), turns.flip(0))['rot_acc'] == 100.0
    noise = rotation_probe(torch.randn(40, 8, generator=g), turns,
                           torch.randn(40, 8, generator=g), turns)['rot_acc']
    assert noise < 60


# ----------------------------------------------------------------------------- collapse
def test_collapse_statistics_of_isotropic_low_rank_and_collapsed_features():
    g = torch.Generator().manual_seed(0)
    dims = 16
    iso = collapse_statistics(torch.randn(20000, dims, generator=g))
    assert iso['std'] == pytest.approx(1 / math.sqrt(dims), rel=0.03)
    assert iso['std_ratio'] == pytest.approx(1, rel=0.03)
    assert iso['effective_rank'] == pytest.approx(dims, rel=0.02)
    assert abs(iso['mean_cosine']) < 0.01

    low = torch.zeros(20000, dims)
    low[:, :3] = torch.randn(20000, 3, generator=g)  # dimensional collapse onto 3 directions
    low_stats = collapse_statistics(low)
    assert low_stats['effective_rank'] == pytest.approx(3, rel=0.02)
    assert low_stats['std_ratio'] < iso['std_ratio']

    same = collapse_statistics(torch.ones(50, dims) + 1e-9 * torch.randn(50, dims, generator=g))
    assert same['std'] < 1e-6 and same['effective_rank'] < 1.5
    assert same['mean_cosine'] == pytest.approx(1)
    assert collapse_statistics(torch.ones(5, dims))['effective_rank'] == 0
    with pytest.raises(ValueError):
        collapse_statistics(torch.ones(1, dims))


# ----------------------------------------------------------------------------- all probes
class PlantedBackbone(torch.nn.Module):
    """Patch tokens = the mean colour of each 8 x 8 cell, like a colour-coded ViT."""

    out_type = 'featmap'

    def forward(self, x):
        return (F.avg_pool2d(x, 8), )


def test_evaluate_backbone_on_colour_coded_classes():
    rng = np.random.default_rng(0)
    colours = np.array([[220, 30, 30], [30, 220, 30], [30, 30, 220]], np.uint8)

    def sample():  # a 32 px image of 8 px colour cells, one label per cell
        labels = rng.integers(0, 3, (4, 4))
        return colours[labels.repeat(8, 0).repeat(8, 1)], labels

    train = [sample() for _ in range(6)]
    val = [sample() for _ in range(3)]
    data = DenseProbeData([i for i, _ in train], np.stack([lab for _, lab in train]),
                          [i for i, _ in val], np.stack([lab for _, lab in val]), 3)
    backbone = PlantedBackbone().train()
    # the planted module has no parameters: give extract_maps a device to read
    backbone.register_parameter('anchor', torch.nn.Parameter(torch.zeros(1)))
    out = evaluate_backbone(backbone, data, DenseProbeSettings(img_size=32, rot_crop=0.5))
    assert backbone.training  # mode restored
    assert out['grid'] == [4, 4] and out['feature_dims'] == 3
    assert out['linear_mIoU'] == pytest.approx(100) and out['nn_mIoU'] == pytest.approx(100)
    assert out['feature_effective_rank'] <= 3 and out['seconds'] > 0
    for key in ('pos_acc', 'rot_acc', 'feature_std', 'feature_mean_cosine'):
        assert math.isfinite(out[key])
    half = evaluate_backbone(backbone, data, DenseProbeSettings(
        img_size=32, probes=('nn', ), label_fraction=0.5, subset_seed=1))
    assert half['num_train'] == 3 and set(half) >= {'nn_mIoU'} and 'linear_mIoU' not in half
    with pytest.raises(ValueError, match='unknown probes'):
        DenseProbeSettings(probes=('knn', ))


def test_label_subset_indices_are_seeded():
    data = DenseProbeData([np.zeros((2, 2, 3), np.uint8)] * 8, np.arange(8).reshape(8, 1, 1),
                          [], np.zeros((0, 1, 1)), 8)
    a, b = data.subset_indices(0.25, 0), data.subset_indices(0.25, 0)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 2 and list(data.subset_indices(1.0)) == list(range(8))
    assert not np.array_equal(a, data.subset_indices(0.25, 5))
    with pytest.raises(ValueError):
        data.subset_indices(0)
