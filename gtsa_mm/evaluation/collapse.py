"""Collapse monitor: is the representation spread out, or has it fallen onto a few directions?

Two numbers of L2-normalised features ``z`` (one row per token or image):

- ``std``: the std over the samples of each dimension of ``z``, averaged over the
  dimensions (as lightly's ``std_of_l2_normalized``). Features spread evenly over the
  sphere give about ``1 / sqrt(d)``; complete collapse (all equal) gives 0.
  ``std_ratio = std * sqrt(d)`` puts that on a 0..1 scale.
- ``effective_rank``: ``exp(entropy)`` of the normalised eigenvalues of the covariance
  of ``z`` (Roy & Vetterli, 2007): about ``d`` for isotropic features, ``r`` for
  features spread evenly in an ``r``-dimensional subspace (dimensional collapse), 0 for
  features without variance.

``mean_cosine``, the mean cosine similarity of distinct samples, is 0 for
isotropic features and 1 for complete collapse.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['collapse_statistics', 'effective_rank', 'map_tokens']


def effective_rank(covariance: Tensor, eps: float = 1e-12) -> float:
    """``exp`` of the entropy of the normalised eigenvalues of a covariance matrix."""
    eig = torch.linalg.eigvalsh(covariance.double()).clamp_min(0)
    total = eig.sum()
    if total <= eps:
        return 0.
    p = eig / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def collapse_statistics(features: Tensor) -> dict:
    """``std``, ``std_ratio``, ``effective_rank`` and ``mean_cosine`` of ``(N, d)`` features."""
    if features.dim() != 2 or len(features) < 2:
        raise ValueError(f'collapse_statistics needs (N >= 2, d) features, got '
                         f'{tuple(features.shape)}')
    n, dims = features.shape
    z = F.normalize(features.double(), dim=1)
    std = float(z.std(0).mean())
    centred = z - z.mean(0, keepdim=True)
    covariance = centred.T @ centred / (n - 1)
    total = z.sum(0)
    mean_cosine = float((total @ total - n) / (n * (n - 1)))
    return dict(std=std, std_ratio=std * math.sqrt(dims),
                effective_rank=effective_rank(covariance), mean_cosine=mean_cosine)


def map_tokens(maps: Tensor) -> Tensor:
    """``(N, C, h, w)`` maps -> ``(N h w, C)`` tokens."""
    return maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])
