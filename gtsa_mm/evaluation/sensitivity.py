"""Probes of what GTSA is built to keep: token position and image orientation."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .linear_probe import RidgeClassifier, standardize

__all__ = ['position_probe', 'random_crops', 'rotation_probe']


def position_probe(train_maps: Tensor, val_maps: Tensor, alpha: float = 1e-3) -> dict:
    """Predict each token's row and column from the token alone.

    Returns ``pos_acc`` (mean of row and column accuracy), ``pos_row_acc``,
    ``pos_col_acc`` and ``pos_chance`` (``1 / grid side``), all in percent.
    """
    _, dims, h, w = train_maps.shape

    def flat(maps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n = len(maps)
        rows = torch.arange(h).view(1, h, 1).expand(n, h, w).reshape(-1)
        cols = torch.arange(w).view(1, 1, w).expand(n, h, w).reshape(-1)
        return maps.permute(0, 2, 3, 1).reshape(-1, dims), rows, cols

    x, rows, cols = flat(train_maps)
    xv, rows_v, cols_v = flat(val_maps)
    x, xv = standardize(x, xv)
    accs = []
    for target, target_v, side in ((rows, rows_v, h), (cols, cols_v, w)):
        probe = RidgeClassifier(x, target, side, alpha)
        accs.append(100 * float((probe.predict(xv) == target_v).float().mean()))
    return dict(pos_acc=sum(accs) / 2, pos_row_acc=accs[0], pos_col_acc=accs[1],
                pos_chance=100 * (1 / h + 1 / w) / 2)


def rotation_probe(train_pooled: Tensor, train_turns: Tensor, val_pooled: Tensor,
                   val_turns: Tensor, alpha: float = 1e-3) -> dict:
    """4-way quarter-turn classifier on ``(N, C)`` mean-pooled tokens; percent, chance 25."""
    x, xv = standardize(train_pooled, val_pooled)
    probe = RidgeClassifier(x, train_turns, 4, alpha)
    acc = 100 * float((probe.predict(xv) == val_turns).float().mean())
    return dict(rot_acc=acc, rot_chance=25.0)


def random_crops(images: Sequence[np.ndarray], fraction: float,
                 seed: int) -> list[np.ndarray]:
    """One seeded square crop per image, its side ``fraction`` of the shorter side.

    The rotation probe turns crops, not whole scenes: on whole outdoor scenes the sky
    alone gives the turn away, for a random backbone too.
    """
    if fraction >= 1:
        return list(images)
    rng = np.random.default_rng(seed)
    crops = []
    for im in images:
        side = max(1, int(round(fraction * min(im.shape[:2]))))
        y = int(rng.integers(0, im.shape[0] - side + 1))
        x = int(rng.integers(0, im.shape[1] - side + 1))
        crops.append(im[y:y + side, x:x + side])
    return crops
