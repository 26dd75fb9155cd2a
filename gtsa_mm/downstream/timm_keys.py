"""Key layout conversion between mmpretrain's ``VisionTransformer`` and timm's.

Both implement the same pre-norm ViT (qkv in one linear layer, GELU MLP,
LayerNorm), so the conversion is a renaming; no tensor is reshaped. DINO's
``vision_transformer.py`` and the GTSA authors' ViT (a copy of DINO's) use timm's
names, so their backbones convert the same way.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping

import torch

__all__ = ['mmpretrain_key', 'mmpretrain_vit_to_timm', 'timm_key', 'timm_vit_to_mmpretrain']

# (mmpretrain name, timm name) templates: {n} a block index, {p} weight or bias,
# {q} qkv or proj, {t} cls_token or pos_embed. The one table both directions read.
_KEY_TEMPLATES: tuple[tuple[str, str], ...] = (
    ('patch_embed.projection.{p}', 'patch_embed.proj.{p}'),
    ('{t}', '{t}'),
    ('pre_norm.{p}', 'norm_pre.{p}'),
    ('layers.{n}.ln1.{p}', 'blocks.{n}.norm1.{p}'),
    ('layers.{n}.attn.{q}.{p}', 'blocks.{n}.attn.{q}.{p}'),
    ('layers.{n}.attn.gamma1.weight', 'blocks.{n}.ls1.gamma'),
    ('layers.{n}.ln2.{p}', 'blocks.{n}.norm2.{p}'),
    ('layers.{n}.ffn.layers.0.0.{p}', 'blocks.{n}.mlp.fc1.{p}'),
    ('layers.{n}.ffn.layers.1.{p}', 'blocks.{n}.mlp.fc2.{p}'),
    ('layers.{n}.ffn.gamma2.weight', 'blocks.{n}.ls2.gamma'),
    ('ln1.{p}', 'norm.{p}'),
)
_FIELDS = dict(n=r'\d+', p='weight|bias', q='qkv|proj', t='cls_token|pos_embed')


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r'\{(\w)\}', template)  # literal, field, literal, field, ...
    regex = ''.join(re.escape(part) if i % 2 == 0 else f'(?P<{part}>{_FIELDS[part]})'
                    for i, part in enumerate(parts))
    return re.compile(regex)


_TO_TIMM = tuple((_pattern(mm), timm) for mm, timm in _KEY_TEMPLATES)
_TO_MMPRETRAIN = tuple((_pattern(timm), mm) for mm, timm in _KEY_TEMPLATES)


def _rename(key: str, rules: tuple[tuple[re.Pattern, str], ...], source: str,
            target: str) -> str:
    for pattern, template in rules:
        match = pattern.fullmatch(key)
        if match:
            return template.format(**match.groupdict())
    raise KeyError(f'No {target} ViT counterpart for the {source} key {key!r}.')


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
    return _rename(mmpretrain_key, _TO_TIMM, 'mmpretrain', 'timm')


def mmpretrain_key(timm_vit_key: str) -> str:
    """The mmpretrain ``VisionTransformer`` name of one timm / DINO ViT key.

    Args:
        timm_vit_key (str): A key of timm's or DINO's ``VisionTransformer``.

    Returns:
        str: The matching key of ``mmpretrain.models.VisionTransformer``.

    Raises:
        KeyError: The key has no mmpretrain backbone counterpart (timm's
            classifier ``head``, ``fc_norm``, a distillation token).
    """
    return _rename(timm_vit_key, _TO_MMPRETRAIN, 'timm', 'mmpretrain')


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


def timm_vit_to_mmpretrain(
        state_dict: Mapping[str, torch.Tensor]
) -> tuple[OrderedDict[str, torch.Tensor], list[str]]:
    """Rename a timm / DINO ViT state dict into mmpretrain's layout.

    Args:
        state_dict (Mapping[str, torch.Tensor]): Keys of a timm (or DINO, or the
            GTSA authors') ``VisionTransformer`` without prefix.

    Returns:
        tuple: The backbone's tensors under mmpretrain ``VisionTransformer`` names,
        and the keys that are not part of an mmpretrain backbone (timm's ``head``,
        ``fc_norm``), left out.
    """
    converted, left_out = OrderedDict(), []
    for key, value in state_dict.items():
        try:
            converted[mmpretrain_key(key)] = value
        except KeyError:
            left_out.append(key)
    return converted, left_out
