"""Segmentation scores with MMSegmentation's conventions (checked against its ``IoUMetric``)."""
from __future__ import annotations

import numpy as np

__all__ = ['confusion_matrix', 'segmentation_scores']


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_classes: int,
                     ignore_index: int = 255) -> np.ndarray:
    """``(K, K)`` counts ``[gt class, predicted class]`` over the pixels not ignored.

    Labels are ``0..K-1``; pixels whose ground truth is ``ignore_index`` (or any value
    outside ``0..K-1``) are skipped, as MMSegmentation's ``IoUMetric`` does.
    """
    gt = np.asarray(gt).astype(np.int64).ravel()
    pred = np.asarray(pred).astype(np.int64).ravel()
    valid = (gt != ignore_index) & (gt >= 0) & (gt < num_classes)
    if pred.size != gt.size:
        raise ValueError(f'prediction has {pred.size} pixels, ground truth {gt.size}')
    if np.any((pred[valid] < 0) | (pred[valid] >= num_classes)):
        raise ValueError(f'predictions must be class indices in 0..{num_classes - 1}')
    index = gt[valid] * num_classes + pred[valid]
    return np.bincount(index, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def segmentation_scores(pred: np.ndarray, gt: np.ndarray, num_classes: int,
                        ignore_index: int = 255) -> dict:
    """``mIoU`` and ``aAcc`` in percent, and the per-class ``IoU`` (percent, NaN if absent).

    A class that is in neither ``gt`` nor ``pred`` has no IoU and is left out of the
    mean (MMSegmentation: NaN, then ``nanmean``).
    """
    confusion = confusion_matrix(pred, gt, num_classes, ignore_index).astype(np.float64)
    inter = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = np.where(union > 0, inter / union, np.nan)
    total = confusion.sum()
    miou = float(np.nanmean(iou)) * 100 if np.any(union > 0) else float('nan')
    acc = float(inter.sum() / total) * 100 if total else float('nan')
    return dict(mIoU=miou, aAcc=acc, IoU=[float(x) * 100 for x in iou])
