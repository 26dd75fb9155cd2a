"""What the feature pictures show, as arrays: patch features, their joint PCA, patch
correspondences between two views of one image, and the last block's attention.

Everything here is numpy/torch on the CPU; :mod:`gtsa_mm.visualization.figures` draws it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from mmengine.config import ConfigDict
from torch import Tensor, nn

from ..evaluation.backbones import (
    RANDOM,
    build_probe_backbone,
    default_img_size,
    model_config,
    normalisation,
)
from ..evaluation.dense_evaluator import extract_maps, to_batch
from ..models.utils import vit_patch_size

__all__ = [
    'VIEW_TRANSFORMS', 'Correspondences', 'LoadedBackbone', 'last_block_attention', 'load_vit',
    'nearest_patches', 'patch_features', 'pca_rgb', 'read_rgb', 'view_pair'
]

#: How the second view of an image is made; each works on an image and on its patch grid
#: alike (a square image that the patches tile exactly).
VIEW_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    'hflip': lambda a: a[:, ::-1],
    'vflip': lambda a: a[::-1],
    'rot90': lambda a: np.rot90(a, 1),   # np.rot90: a quarter turn counter-clockwise
    'rot180': lambda a: np.rot90(a, 2),
    'rot270': lambda a: np.rot90(a, 3),
}


@dataclass
class LoadedBackbone:
    """A frozen ViT and how to feed it."""
    name: str
    backbone: nn.Module
    img_size: int
    mean: Sequence[float]
    std: Sequence[float]


def read_rgb(path: str) -> np.ndarray:
    """An image file as RGB uint8, or an error naming the file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'cannot read image {path!r} (missing or not an image)')
    return np.ascontiguousarray(image[..., ::-1])


def load_vit(checkpoint: str, config: str | None = None, arch: str | None = None,
             patch_size: int = 16, teacher: bool = False, img_size: int | None = None,
             name: str | None = None, seed: int = 0, like: str | None = None) -> LoadedBackbone:
    """An ``mmpretrain.VisionTransformer`` from any checkpoint that holds one.

    Args:
        checkpoint (str): A GTSA or DINO Runner checkpoint (student or, with
            ``teacher``, the EMA teacher), a file of ``tools/extract_backbone.py`` or a
            bare ViT state dict (these need ``config`` or ``arch``), or ``'random'``
            (a fresh init of ``config``/``arch``, seeded by ``seed``).
        config (str, optional): A config whose ``model.backbone`` is the ViT.
            Defaults to the checkpoint's own ``meta['cfg']``.
        arch (str, optional): An mmpretrain ViT arch (``'deit-small'``), with
            ``patch_size``.
        teacher (bool): Take the EMA teacher of a Runner checkpoint.
        img_size (int, optional): Input side; defaults to the backbone's ``img_size``.
        name (str, optional): A title; defaults to ``checkpoint``.
        seed (int): Seed of a random init.
        like (str, optional): For ``'random'`` without ``config``/``arch``: a Runner
            checkpoint whose ``meta['cfg']`` gives the architecture.
    """
    from ..downstream import backbone_prefix, match_backbone_state_dict, read_state_dict

    is_random = checkpoint == RANDOM
    if is_random and not (config or arch or like):
        raise ValueError("checkpoint 'random' needs a config (--config), an arch (--arch) or "
                         'a real checkpoint beside it to take the architecture from')
    model_cfg: ConfigDict = model_config(like if is_random else checkpoint, config, arch,
                                         patch_size)
    backbone = build_probe_backbone(model_cfg, seed)
    if not is_random:
        state_dict = read_state_dict(checkpoint)
        # a Runner checkpoint holds the algorithm; an extracted backbone the ViT's own keys
        is_algorithm = any(k.startswith(('backbone.', 'target_net.')) for k in state_dict)
        if teacher and not is_algorithm:
            raise ValueError(f'--teacher: {checkpoint!r} holds one backbone, not a Runner '
                             "checkpoint's student and EMA teacher")
        prefix = backbone_prefix(use_teacher=teacher) if is_algorithm else ''
        backbone.load_state_dict(
            match_backbone_state_dict(backbone, state_dict, checkpoint, prefix), strict=False)
    mean, std = normalisation(model_cfg)
    return LoadedBackbone(name or checkpoint, backbone, img_size or default_img_size(model_cfg),
                          mean, std)


def square(image: np.ndarray, size: int) -> np.ndarray:
    """The image resized to ``size x size`` (RGB uint8), as the backbone sees it."""
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_AREA)


def patch_features(model: LoadedBackbone, images: Sequence[np.ndarray]) -> np.ndarray:
    """The last output's patch features of RGB images: ``(N, h, w, C)`` float32."""
    batch = to_batch(images, model.img_size, model.mean, model.std)
    maps, _ = extract_maps(model.backbone, batch)
    return maps.permute(0, 2, 3, 1).numpy()


def pca_rgb(feature_maps: Sequence[np.ndarray], low: float = 1.,
            high: float = 99.) -> list[np.ndarray]:
    """The first 3 principal components of patch features as RGB in [0, 1].

    The PCA is fit jointly on every patch of every map given (the images of one
    model), so a colour means the same feature direction in all of them. Signs are
    fixed (each component's largest-magnitude loading is positive) and each
    component is scaled to [0, 1] between its ``low`` and ``high`` percentiles over
    all the patches, the same rule for every model.

    Args:
        feature_maps: ``(h, w, C)`` maps with the same ``C`` (sizes may differ).

    Returns:
        list[np.ndarray]: One ``(h, w, 3)`` float array per map.
    """
    flat = np.concatenate([f.reshape(-1, f.shape[-1]) for f in feature_maps]).astype(np.float64)
    centred = flat - flat.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:3]
    signs = np.sign(components[np.arange(len(components)),
                               np.abs(components).argmax(1)])
    components = components * signs[:, None]
    projected = centred @ components.T
    if projected.shape[1] < 3:  # fewer than 3 feature dimensions
        projected = np.pad(projected, ((0, 0), (0, 3 - projected.shape[1])))
    lo, hi = np.percentile(projected, low, axis=0), np.percentile(projected, high, axis=0)
    rgb = np.clip((projected - lo) / np.maximum(hi - lo, 1e-12), 0., 1.)
    out, start = [], 0
    for f in feature_maps:
        count = f.shape[0] * f.shape[1]
        out.append(rgb[start:start + count].reshape(f.shape[0], f.shape[1], 3))
        start += count
    return out


@dataclass
class Correspondences:
    """Nearest-neighbour patches of view A in view B."""
    grid: tuple[int, int]       # (h, w) patches per view
    match: np.ndarray           # (h*w,) flat index in B of each A patch's nearest neighbour
    similarity: np.ndarray      # (h*w,) its cosine similarity
    truth: np.ndarray           # (h*w,) flat index in B showing the same pixels as each A patch

    @property
    def correct(self) -> np.ndarray:
        return self.match == self.truth

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


def view_pair(image: np.ndarray, size: int, patch_size: int,
              transform: str = 'hflip') -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """View A (the image at ``size``), view B (A transformed) and, for every patch of
    A, the flat index of the patch of B that shows the same pixels."""
    if transform not in VIEW_TRANSFORMS:
        raise ValueError(f'unknown view transform {transform!r}; one of {sorted(VIEW_TRANSFORMS)}')
    if size % patch_size:
        raise ValueError(f'image size {size} is not a multiple of the patch size {patch_size}')
    op = VIEW_TRANSFORMS[transform]
    view_a = square(image, size)
    view_b = np.ascontiguousarray(op(view_a))
    side = size // patch_size
    source = op(np.arange(side * side).reshape(side, side)).reshape(-1)  # B patch -> A patch
    truth = np.empty_like(source)
    truth[source] = np.arange(source.size)
    return view_a, view_b, truth


def nearest_patches(features_a: np.ndarray, features_b: np.ndarray,
                    truth: np.ndarray) -> Correspondences:
    """Cosine nearest neighbour in B (``(h, w, C)``) of every patch of A."""
    h, w, c = features_a.shape
    a = torch.nn.functional.normalize(torch.from_numpy(features_a.reshape(-1, c)), dim=1)
    b = torch.nn.functional.normalize(torch.from_numpy(features_b.reshape(-1, c)), dim=1)
    similarity, match = (a @ b.T).max(1)
    return Correspondences((h, w), match.numpy(), similarity.numpy(), np.asarray(truth))


@torch.no_grad()
def last_block_attention(model: LoadedBackbone, images: Sequence[np.ndarray]) -> np.ndarray:
    """The last block's attention over the patches: ``(N, heads, h, w)``.

    With a class token: the class token's attention to each patch (DINO's picture);
    without: the mean attention each patch receives. Scaled by the number of patches
    (1 everywhere = uniform attention), so pictures of different models share a scale.
    The attention is recomputed from the block's own ``qkv`` on the input its
    attention saw (mmpretrain's fused attention does not return it).
    """
    backbone = model.backbone
    attn = backbone.layers[-1].attn
    captured = {}
    handle = attn.register_forward_pre_hook(lambda _m, args: captured.update(x=args[0]))
    try:
        patch_features(model, images)
    finally:
        handle.remove()
    x: Tensor = captured['x'].float()
    n, tokens, _ = x.shape
    qkv = attn.qkv(x).reshape(n, tokens, 3, attn.num_heads, attn.head_dims).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    weights = ((q @ k.transpose(-2, -1)) * attn.head_dims ** -0.5).softmax(-1)
    extra = getattr(backbone, 'num_extra_tokens', 0) if backbone.cls_token is not None else 0
    to_patches = weights[..., 0, extra:] if extra else weights.mean(2)
    side = model.img_size // vit_patch_size(backbone)
    patches = to_patches.shape[-1]
    h, w = (side, side) if side * side == patches else (1, patches)
    return (to_patches * patches).reshape(n, attn.num_heads, h, w).cpu().numpy()
