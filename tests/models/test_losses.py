"""Losses against hand-computed values."""
import math

import torch

from gtsa_mm.models.heads import RotationHead
from gtsa_mm.models.losses import (
    PatchCorrespondenceLoss,
    RegionLoss,
    matched_similarity,
    negative_cosine_similarity,
    region_loss,
    token_similarity,
)


def test_negative_cosine_hand_computed():
    pred = torch.tensor([[1., 0.], [1., 1.]])
    target = torch.tensor([[0., 2.], [3., 3.]])
    # cos = 0 and 1 -> mean -0.5
    assert math.isclose(negative_cosine_similarity(pred, target, dim=1).item(), -0.5,
                        abs_tol=1e-6)


def test_region_loss_rotates_teacher_to_student_orientation():
    grid = torch.zeros(1, 2, 2, 2)
    grid[0, 0, 0, 0] = 1.  # channel 0 lit in the top-left cell, channel 1 elsewhere
    grid[0, 1] = 1 - grid[0, 0]
    student = torch.rot90(grid, 1, dims=(-2, -1))  # student view turned a quarter
    assert math.isclose(region_loss(student, grid, torch.tensor([1])).item(), -1.0,
                        abs_tol=1e-6)
    # the unrotated target disagrees in two of four cells: cos 1, 0, 0, 1 -> -0.5
    assert math.isclose(region_loss(student, grid, torch.tensor([0])).item(), -0.5,
                        abs_tol=1e-6)
    invariant = RegionLoss(rotate_target=False)
    assert math.isclose(invariant(student, grid, torch.tensor([1])).item(), -0.5,
                        abs_tol=1e-6)


def test_region_loss_module_builds_each_rotation_table_once():
    module = RegionLoss(loss_weight=2.)
    for size in (3, 5, 3):
        s, t = torch.randn(4, 6, size, size), torch.randn(4, 6, size, size)
        k = torch.tensor([0, 1, 2, 7])
        expected = 2. * region_loss(s, t, k)  # builds its own table
        assert math.isclose(module(s, t, k).item(), expected.item(), rel_tol=1e-6)
        # ...and equals turning each teacher region with torch.rot90
        turned = torch.stack([torch.rot90(t[i], int(k[i]), dims=(-2, -1)) for i in range(4)])
        assert math.isclose(expected.item(),
                            2. * negative_cosine_similarity(s, turned, dim=1).item(),
                            rel_tol=1e-6)
    assert sorted(size for size, _ in module._rot_tables) == [3, 5]


def test_region_loss_does_not_backprop_into_teacher():
    s = torch.randn(3, 4, 2, 2, requires_grad=True)
    t = torch.randn(3, 4, 2, 2, requires_grad=True)
    region_loss(s, t, torch.tensor([0, 1, 2])).backward()
    assert s.grad is not None and t.grad is None


def test_matched_similarity_hand_computed():
    # rows: student tokens, cols: teacher tokens
    sim = torch.tensor([[0.9, 0.1, 0.0],
                        [0.2, 0.3, 0.8],
                        [0.1, 0.4, 0.2],
                        [0.5, 0.6, 0.7]])
    # student best: 0.9, 0.8, 0.4, 0.7 -> top2 0.9, 0.8 -> 0.85
    # teacher best: 0.9, 0.6, 0.8 -> top2 0.9, 0.8 -> 0.85
    assert math.isclose(matched_similarity(sim, 2).item(), 0.85, abs_tol=1e-6)
    # top3: student 0.9, 0.8, 0.7 -> 0.8; teacher 0.9, 0.8, 0.6 -> 0.7667
    assert math.isclose(matched_similarity(sim, 3).item(), 0.5 * (0.8 + 2.3 / 3), abs_tol=1e-6)


def test_patch_matching_picks_the_known_matches():
    gen = torch.Generator().manual_seed(0)
    teacher = torch.nn.functional.normalize(torch.randn(1, 16, 32, generator=gen), dim=-1)
    perm = torch.randperm(16, generator=gen)
    # 8 student tokens are exact copies of teacher tokens, 8 are noise
    student = torch.cat([teacher[:, perm[:8]], torch.randn(1, 8, 32, generator=gen) * 0.01
                         + torch.randn(1, 1, 32, generator=gen)], 1)
    # the 8 exact copies are the best matches both ways: the loss is exactly -weight
    similarity = token_similarity(student, teacher)
    half = PatchCorrespondenceLoss(loss_weight=0.5, match_ratio=0.5)
    assert math.isclose(half.match(similarity).item(), 1.0, abs_tol=1e-5)
    assert math.isclose(half(half.match(similarity)).item(), -0.5, abs_tol=1e-5)
    more = PatchCorrespondenceLoss(match_ratio=0.75)  # 12 of 16: noise is kept too
    assert more.match(similarity).item() < 0.999


def test_patch_loss_module_keeps_half_of_student_tokens():
    loss = PatchCorrespondenceLoss(match_ratio=0.5)
    assert loss.num_matches(196) == 98 and loss.num_matches(36) == 18


def test_rotation_head_reads_the_mean_token():
    head = RotationHead(in_channels=8, hidden_channels=16, bottleneck_channels=4)
    maps = torch.randn(6, 8, 3, 3)
    logits = head(maps)
    assert logits.shape == (6, 4)
    torch.testing.assert_close(head(maps.mean((2, 3), keepdim=True).expand_as(maps)), logits)
