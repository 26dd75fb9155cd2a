"""Key layout conversion from mmpretrain's ``VisionTransformer`` to timm's.

Both implement the same pre-norm ViT (qkv in one linear layer, GELU MLP,
LayerNorm), so the conversion is a renaming; no tensor is reshaped.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping

import torch

__all__ = ['mmpretrain_vit_to_timm', 'timm_key']

# (mmpretrain key pattern, timm replacement); the first full match wins.
_MMPRETRAIN_TO_TIMM: tuple[tuple[str, str], ...] = (
    (r'patch_embed\.projection\.(weight|bias)', r'patch_embed.proj.\1'),
    (r'(cls_token|pos_embed)', r'\1'),
    (r'pre_norm\.(weight|bias)', r'norm_pre.\1'),
    (r'layers\.(\d+)\.ln1\.(weight|bias)', r'blocks.\1.norm1.\2'),
    (r'layers\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)', r'blocks.\1.attn.\2.\3'),
    (r'layers\.(\d+)\.attn\.gamma1\.weight', r'blocks.\1.ls1.gamma'),
    (r'layers\.(\d+)\.ln2\.(weight|bias)', r'blocks.\1.norm2.\2'),
    (r'layers\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)', r'blocks.\1.mlp.fc1.\2'),
    (r'layers\.(\d+)\.ffn\.layers\.1\.(weight|bias)', r'blocks.\1.mlp.fc2.\2'),
    (r'layers\.(\d+)\.ffn\.gamma2\.weight', r'blocks.\1.ls2.gamma'),
    (r'ln1\.(weight|bias)', r'norm.\1'),
)


def timm_key(mmpretrain_key: str) -> str:
    """The timm ``VisionTransformer`` name of one mmpretrain ViT state-dict key.

    Args:
        mmpretrain_key (str): A key of ``mmpretrain.models.VisionTransformer``.

    Returns:
        str: The matching key of ``timm.models.vision_transformer.VisionTransformer``.

    Raises:
        KeyError: The key has no timm counterpart (e.g. ``ln2`` of
            ``out_type='avg_featmap'``).
    """
    for pattern, replacement in _MMPRETRAIN_TO_TIMM:
        if re.fullmatch(pattern, mmpretrain_key):
            return re.sub(pattern, replacement, mmpretrain_key)
    raise KeyError(f'No timm ViT counterpart for the mmpretrain key {mmpretrain_key!r}.')


def mmpretrain_vit_to_timm(
        state_dict: Mapping[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """Rename an mmpretrain ViT state dict into timm's layout.

    The result loads into ``timm.models.vision_transformer.VisionTransformer``
    built with the same dims, ``qkv_bias=True``, ``class_token=True`` and
    ``global_pool='token'`` or ``'avg'`` (``num_classes=0``: timm's head is not
    part of a backbone checkpoint).

    Args:
        state_dict (Mapping[str, torch.Tensor]): Keys of an mmpretrain
            ``VisionTransformer`` without prefix.

    Returns:
        OrderedDict[str, torch.Tensor]: The same tensors under timm's names.
    """
    return OrderedDict((timm_key(key), value) for key, value in state_dict.items())
