"""The architecture of a ViT, read from its tensors, a module or a stored config text.

Used to say *what* differs when a checkpoint's backbone does not fit the model a
config builds (4 blocks of 128 dims with 8-pixel patches against ViT-S/16, say), and
which shipped downstream configs build the checkpoint's ViT.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..shipped_configs import configs_dir, shown_config_path

__all__ = [
    'CONFIG_NAME_OF_ARCH', 'ViTArchitecture', 'configs_for_architecture',
    'describe_stored_config', 'vit_architecture_of_module', 'vit_architecture_of_state_dict'
]

#: How the shipped configs name their backbone (``mask-rcnn_vit-small-p16-gtsa_...``):
#: (blocks, dims, patch size) -> name part. ``tests/downstream/test_foreign_checkpoints.py``
#: checks every downstream config with such a name against its ``model.backbone``.
CONFIG_NAME_OF_ARCH: dict[tuple[int, int, int], str] = {
    (12, 384, 16): 'vit-small-p16',  # ViT-S/16, mmpretrain arch 'deit-small' (the paper's)
    (4, 128, 8): 'vit-tiny-p8',  # the demo ViT of configs/_base_/pretrain_demo.py
}
#: The folders of the downstream configs, relative to the shipped configs' folder.
DOWNSTREAM_CONFIG_DIRS = ('mmdet', 'mmseg', 'classification')


@dataclass(frozen=True)
class ViTArchitecture:
    """What the tensors of a ViT fix: depth, width, patch size and MLP width.

    Args:
        depth (int): Transformer blocks.
        width (int): Token dims.
        patch_size (int): Pixels per patch side.
        mlp_width (int): Hidden width of the blocks' MLPs.
    """

    depth: int
    width: int
    patch_size: int
    mlp_width: int

    @property
    def key(self) -> tuple[int, int, int]:
        """``(depth, width, patch_size)``, the key of :data:`CONFIG_NAME_OF_ARCH`."""
        return self.depth, self.width, self.patch_size

    def __str__(self) -> str:
        return (f'a ViT of {self.depth} blocks, {self.width} dims, patch size '
                f'{self.patch_size}, MLP width {self.mlp_width}')


def vit_architecture_of_state_dict(
        state_dict: Mapping[str, torch.Tensor]) -> ViTArchitecture | None:
    """The architecture of an mmpretrain ``VisionTransformer`` state dict (no prefix).

    Args:
        state_dict (Mapping[str, torch.Tensor]): mmpretrain ViT keys.

    Returns:
        ViTArchitecture | None: None when the dict holds no patch embedding or blocks.
    """
    patch = state_dict.get('patch_embed.projection.weight')
    blocks = {int(key.split('.')[1]) for key in state_dict
              if key.startswith('layers.') and key.split('.')[1].isdigit()}
    mlp = state_dict.get('layers.0.ffn.layers.0.0.weight')
    if patch is None or patch.ndim != 4 or not blocks or mlp is None:
        return None
    return ViTArchitecture(depth=max(blocks) + 1, width=int(patch.shape[0]),
                           patch_size=int(patch.shape[-1]), mlp_width=int(mlp.shape[0]))


def vit_architecture_of_module(module: nn.Module) -> ViTArchitecture | None:
    """The architecture of an mmpretrain ``VisionTransformer`` module.

    Args:
        module (nn.Module): The module to describe.

    Returns:
        ViTArchitecture | None: None when ``module`` is not an mmpretrain ViT.
    """
    from mmpretrain.models import VisionTransformer

    if not isinstance(module, VisionTransformer):
        return None
    return vit_architecture_of_state_dict(module.state_dict())


def configs_for_architecture(arch: ViTArchitecture, configs: Path | None = None) -> list[str]:
    """The shipped downstream configs whose backbone is ``arch``.

    Args:
        arch (ViTArchitecture): The backbone's architecture.
        configs (Path, optional): The shipped configs' folder. Defaults to
            :func:`~gtsa_mm.shipped_configs.configs_dir` (the repository's ``configs/``
            or an installed wheel's ``gtsa_mm/.mim/configs``).

    Returns:
        list[str]: The configs as :func:`~gtsa_mm.shipped_configs.shown_config_path`
        names them (``configs/mmdet/...`` in a checkout); empty when no shipped config
        builds this ViT.
    """
    name = CONFIG_NAME_OF_ARCH.get(arch.key)
    if name is None:
        return []
    if configs is None:
        try:
            configs = configs_dir()
        except FileNotFoundError:  # a broken install: the error being built still names arch
            return []
    return sorted(shown_config_path(path, configs) for folder in DOWNSTREAM_CONFIG_DIRS
                  for path in (configs / folder).glob(f'*{name}*.py'))


def _literal(node: ast.AST) -> object:
    """A Python literal or ``dict(...)`` call of a config text, evaluated without running it."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == 'dict' and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg}
    if isinstance(node, (ast.Constant, ast.Dict, ast.List, ast.Tuple, ast.UnaryOp)):
        try:
            return ast.literal_eval(node)
        except ValueError:
            return None
    return None


def describe_stored_config(meta: Mapping | None) -> str | None:
    """The backbone a Runner checkpoint's stored config (``meta['cfg']``) builds.

    The config text is parsed with :mod:`ast`, never executed: a checkpoint is data.

    Args:
        meta (Mapping, optional): The checkpoint's ``meta``.

    Returns:
        str | None: e.g. ``"model.backbone arch=dict(embed_dims=128, ...), patch_size=8
        (run 'gtsa_vit-tiny-p8_...')"``, or None when there is no readable config.
    """
    text = meta.get('cfg') if isinstance(meta, Mapping) else None
    if not isinstance(text, str):
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    model = None
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == 'model' for t in statement.targets):
            model = _literal(statement.value)
    backbone = model.get('backbone') if isinstance(model, dict) else None
    if not isinstance(backbone, dict):
        return None
    fields = [f'{name}={backbone[name]!r}' for name in ('type', 'arch', 'patch_size', 'img_size')
              if name in backbone]
    if isinstance(backbone.get('arch'), str):
        from mmpretrain.models import VisionTransformer
        zoo = VisionTransformer.arch_zoo.get(backbone['arch'].lower())
        if zoo:
            fields.append(f'(arch {backbone["arch"]!r} = {zoo})')
    run = meta.get('experiment_name')
    return 'model.backbone ' + ', '.join(fields) + (f" (run '{run}')" if run else '')
