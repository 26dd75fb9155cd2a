"""Dense nearest-neighbour retrieval: semantic segmentation by label transfer from a
memory bank of training patches (the Hummingbird protocol).

The protocol of Balazevic et al., *Towards In-context Scene Understanding* (NeurIPS
2023), used by CrIBo, NeCo and DIP to report dense scene features without any training:

1. memory bank: the L2-normalised token of every training patch (or a seeded sample of
   ``bank_size // num_images`` per image), each with its label distribution, the
   fraction of the patch's pixels of each class;
2. each validation token retrieves its ``k`` (30) nearest bank tokens by cosine
   similarity; their distributions are averaged with weights ``softmax(sim / T)``
   (T = 0.07);
3. the resulting class scores are upsampled bilinearly to the label map and the
   argmax is scored with mIoU.

Ignored pixels (``ignore_index``) count for no class; bank patches without any labelled
pixel carry no label information and are left out of the bank.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .linear_probe import patch_label_histograms, upsample_scores
from .metrics import segmentation_scores

__all__ = [
    'build_memory_bank', 'knn_label_transfer', 'nn_retrieval_probe', 'patch_label_distributions'
]


def patch_label_distributions(labels: np.ndarray, grid: tuple[int, int],
                              num_classes: int) -> Tensor:
    """``(N, h, w, K)`` fraction of each token cell's pixels of each class.

    Ignored pixels count in the cell's size but for no class, so a row sums to the
    labelled fraction of its cell (0 for a cell without labelled pixels).
    """
    counts = patch_label_histograms(labels, grid, num_classes)
    dist = counts[..., :num_classes] / counts.sum(-1, keepdims=True).clip(min=1)
    return torch.from_numpy(dist).float()


def build_memory_bank(train_maps: Tensor, train_labels: np.ndarray, num_classes: int,
                      bank_size: int | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(M, C)`` normalised bank tokens and their ``(M, K)`` label distributions.

    ``bank_size`` None keeps every labelled patch; otherwise each image contributes a
    seeded random sample of at most ``bank_size // num_images`` of its labelled patches
    (all of them when it has fewer), so ``M <= bank_size``.
    """
    n, dims, h, w = train_maps.shape
    feats = F.normalize(train_maps.float().permute(0, 2, 3, 1).reshape(n, h * w, dims), dim=-1)
    dists = patch_label_distributions(train_labels, (h, w), num_classes).reshape(n, h * w, -1)
    labelled = dists.sum(-1) > 0
    if bank_size is None:
        return feats[labelled], dists[labelled]
    per_image = bank_size // n
    if per_image < 1:
        raise ValueError(f'bank_size={bank_size} is smaller than the {n} training images; '
                         'give at least one patch per image')
    generator = torch.Generator().manual_seed(seed)
    keep_feats, keep_dists = [], []
    for i in range(n):
        candidates = labelled[i].nonzero().flatten()
        order = torch.randperm(len(candidates), generator=generator)[:per_image]
        chosen = candidates[order]
        keep_feats.append(feats[i, chosen])
        keep_dists.append(dists[i, chosen])
    return torch.cat(keep_feats), torch.cat(keep_dists)


def knn_label_transfer(queries: Tensor, bank_feats: Tensor, bank_dists: Tensor, k: int = 30,
                       temperature: float = 0.07, chunk_size: int = 4096,
                       device: torch.device | str | None = None) -> Tensor:
    """``(Q, K)`` class scores of normalised ``(Q, C)`` queries from a memory bank.

    Each query's ``k`` most cosine-similar bank tokens vote with their label
    distributions, weighted by ``softmax(similarity / temperature)`` over those ``k``.
    The search runs on ``device`` (default: the queries'), the result is on the CPU.
    """
    if len(bank_feats) == 0:
        raise ValueError('the memory bank is empty: no training patch has a labelled pixel')
    device = device or queries.device
    bank_feats, bank_dists = bank_feats.to(device), bank_dists.to(device)
    k = min(k, len(bank_feats))
    out = []
    for start in range(0, len(queries), chunk_size):
        sim = queries[start:start + chunk_size].to(device) @ bank_feats.T
        top_sim, top_index = sim.topk(k, dim=1)
        weights = torch.softmax(top_sim / temperature, dim=1)
        out.append(torch.einsum('qk,qkc->qc', weights, bank_dists[top_index]).cpu())
    return torch.cat(out)


def nn_retrieval_probe(train_maps: Tensor, train_labels: np.ndarray, val_maps: Tensor,
                       val_labels: np.ndarray, num_classes: int, ignore_index: int = 255,
                       k: int = 30, temperature: float = 0.07, bank_size: int | None = None,
                       seed: int = 0, device: torch.device | str | None = None) -> dict:
    """Hummingbird dense nearest-neighbour segmentation of frozen patch tokens.

    Args:
        train_maps, val_maps: ``(N, C, h, w)`` token maps.
        train_labels, val_labels: ``(N, H, W)`` labels ``0..K-1`` or ``ignore_index``.
        k: Neighbours per query token. Defaults to 30.
        temperature: Softmax temperature over the neighbours' similarities.
        bank_size: Memory bank size (None: every labelled training patch).
        seed: Seed of the bank's patch sample.
        device: Where the neighbour search runs (default: the CPU).

    Returns:
        dict: ``nn_mIoU``, ``nn_aAcc`` (percent), ``nn_IoU`` and ``nn_bank_size``.
    """
    n, dims, h, w = val_maps.shape
    bank_feats, bank_dists = build_memory_bank(train_maps, train_labels, num_classes,
                                               bank_size, seed)
    queries = F.normalize(val_maps.float().permute(0, 2, 3, 1).reshape(-1, dims), dim=-1)
    scores = knn_label_transfer(queries, bank_feats, bank_dists, k, temperature, device=device)
    pred = upsample_scores(scores.reshape(n, h, w, num_classes), val_labels.shape[1:]).numpy()
    result = segmentation_scores(pred, val_labels, num_classes, ignore_index)
    out = {f'nn_{key}': value for key, value in result.items()}
    out['nn_bank_size'] = len(bank_feats)
    return out
