"""Closed-form linear probes and the linear segmentation probe on patch tokens."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .metrics import segmentation_scores

__all__ = ['RidgeClassifier', 'linear_segmentation_probe', 'patch_majority_labels', 'standardize']


def standardize(train: Tensor, *others: Tensor) -> list[Tensor]:
    """Scale features (last dim) by the training set's mean and std."""
    mean = train.mean(0, keepdim=True)
    std = train.std(0, keepdim=True).clamp_min(1e-6)
    return [(x - mean) / std for x in (train, *others)]


class RidgeClassifier:
    """Linear probe in closed form: least squares onto one-hot targets, ridge-regularised.

    ``W = (X^T X + alpha N I)^-1 X^T Y`` in float64 (with a bias column); the
    prediction is ``argmax(X W)``. No iterations, no randomness: the same features
    always give the same probe.
    """

    def __init__(self, features: Tensor, targets: Tensor, num_classes: int,
                 alpha: float = 1e-3) -> None:
        x = torch.cat([features.double(), torch.ones(len(features), 1, dtype=torch.float64)], 1)
        y = F.one_hot(targets.long(), num_classes).double()
        gram = x.T @ x + alpha * len(x) * torch.eye(x.shape[1], dtype=torch.float64)
        self.weight = torch.linalg.solve(gram, x.T @ y)

    def scores(self, features: Tensor) -> Tensor:
        return features.double() @ self.weight[:-1] + self.weight[-1]

    def predict(self, features: Tensor) -> Tensor:
        return self.scores(features).argmax(1)


def patch_cells(height: int, width: int, grid: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` index of the token cell (row-major in the ``h x w`` grid) of each pixel."""
    h, w = grid
    rows = np.minimum(np.arange(height) * h // height, h - 1)
    cols = np.minimum(np.arange(width) * w // width, w - 1)
    return rows[:, None] * w + cols[None, :]


def patch_label_histograms(labels: np.ndarray, grid: tuple[int, int],
                           num_classes: int) -> np.ndarray:
    """``(N, h, w, K + 1)`` pixel counts per class of each token cell; bin K: ignored."""
    n, height, width = labels.shape
    h, w = grid
    bins = num_classes + 1
    label = labels.astype(np.int64)
    label = np.where((label >= 0) & (label < num_classes), label, num_classes)
    cell = patch_cells(height, width, grid)
    index = (np.arange(n)[:, None, None] * (h * w) + cell[None]) * bins + label
    counts = np.bincount(index.ravel(), minlength=n * h * w * bins)
    return counts.reshape(n, h, w, bins)


def patch_majority_labels(labels: np.ndarray, grid: tuple[int, int], num_classes: int,
                          ignore_index: int = 255) -> np.ndarray:
    """``(N, H, W)`` label maps -> ``(N, h, w)`` most frequent label of each token cell.

    A cell whose most frequent value is ignored (``ignore_index`` or out of range) gets
    ``ignore_index``; ties go to the lower class.
    """
    majority = patch_label_histograms(labels, grid, num_classes).argmax(-1)
    return np.where(majority == num_classes, ignore_index, majority)


def upsample_scores(scores: Tensor, size: tuple[int, int]) -> Tensor:
    """``(N, h, w, K)`` class scores -> ``(N, H, W)`` predictions, upsampled bilinearly."""
    scores = F.interpolate(scores.permute(0, 3, 1, 2).float(), size=size, mode='bilinear',
                           align_corners=False)
    return scores.argmax(1)


def linear_segmentation_probe(train_maps: Tensor, train_labels: np.ndarray, val_maps: Tensor,
                              val_labels: np.ndarray, num_classes: int,
                              ignore_index: int = 255, alpha: float = 1e-3) -> dict:
    """A 1x1 linear classifier on frozen patch tokens, scored as semantic segmentation.

    Fitted (ridge, closed form) on each training token's majority label (tokens whose
    majority is ignored are left out); its scores are upsampled bilinearly to the
    validation label maps and scored with :func:`segmentation_scores`.

    Args:
        train_maps, val_maps: ``(N, C, h, w)`` token maps.
        train_labels, val_labels: ``(N, H, W)`` labels ``0..K-1`` or ``ignore_index``.

    Returns:
        dict: ``linear_mIoU``, ``linear_aAcc`` (percent), ``linear_IoU`` (per class).
    """
    _, dims, h, w = train_maps.shape
    targets = torch.from_numpy(
        patch_majority_labels(train_labels, (h, w), num_classes, ignore_index)).reshape(-1)
    x = train_maps.permute(0, 2, 3, 1).reshape(-1, dims)
    xv = val_maps.permute(0, 2, 3, 1).reshape(-1, dims)
    x, xv = standardize(x, xv)
    keep = targets != ignore_index
    if not bool(keep.any()):
        nan = float('nan')
        return dict(linear_mIoU=nan, linear_aAcc=nan, linear_IoU=[nan] * num_classes)
    probe = RidgeClassifier(x[keep], targets[keep], num_classes, alpha)
    scores = probe.scores(xv).reshape(len(val_maps), h, w, num_classes)
    pred = upsample_scores(scores, val_labels.shape[1:]).numpy()
    scores = segmentation_scores(pred, val_labels, num_classes, ignore_index)
    return {f'linear_{k}': v for k, v in scores.items()}
