"""Frozen ViT backbones for the probes: from a Runner checkpoint, a config, or at random."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.config import Config, ConfigDict
from torch import nn

from .dense_evaluator import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    'RANDOM', 'build_probe_backbone', 'default_img_size', 'load_backbone_weights', 'model_config',
    'normalisation'
]

RANDOM = 'random'
VIT_TYPES = ('VisionTransformer', 'mmpretrain.VisionTransformer')
VIT_INIT = [dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)]


def read_config_text(checkpoint: str) -> str | None:
    """The config text the MMEngine Runner stored in ``meta['cfg']``, if any."""
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True, mmap=True)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    cfg = meta.get('cfg') if isinstance(meta, dict) else None
    return cfg if isinstance(cfg, str) else None


def model_config(checkpoint: str | None = None, config: str | None = None,
                 arch: str | None = None, patch_size: int = 16) -> ConfigDict:
    """``cfg.model`` from ``arch``, else ``config``, else the checkpoint's ``meta['cfg']``."""
    if arch:
        return ConfigDict(backbone=dict(type='VisionTransformer', arch=arch,
                                        patch_size=patch_size, img_size=224))
    if config:
        return Config.fromfile(config).model
    text = read_config_text(checkpoint) if checkpoint else None
    if text is None:
        raise ValueError(f'cannot tell the backbone architecture: {checkpoint or RANDOM} '
                         "has no meta['cfg'] (a Runner checkpoint stores it); pass a config "
                         '(--config) or an arch (--arch)')
    return Config.fromstring(text, '.py').model


def build_probe_backbone(model_cfg: ConfigDict, seed: int = 0) -> nn.Module:
    """The config's ``mmpretrain.VisionTransformer``, freshly initialised, in eval mode."""
    from mmpretrain.registry import MODELS

    cfg = dict(model_cfg.backbone)
    if cfg.get('type') not in VIT_TYPES:
        raise ValueError(f'the dense probes need a VisionTransformer backbone, got '
                         f'{cfg.get("type")!r}')
    cfg.update(out_type='featmap', drop_path_rate=0., init_cfg=VIT_INIT)
    torch.manual_seed(seed)
    backbone = MODELS.build(cfg)
    backbone.init_weights()
    backbone.eval()
    return backbone


def load_backbone_weights(backbone: nn.Module, checkpoint: str, teacher: bool = False) -> str:
    """Load the student (or EMA teacher) backbone of a Runner checkpoint; returns the prefix."""
    from gtsa_mm.downstream import backbone_prefix, match_backbone_state_dict, read_state_dict

    prefix = backbone_prefix(use_teacher=teacher)
    weights = match_backbone_state_dict(backbone, read_state_dict(checkpoint), checkpoint,
                                        prefix)
    backbone.load_state_dict(weights, strict=False)
    return prefix


def normalisation(model_cfg: ConfigDict) -> tuple[Sequence[float], Sequence[float]]:
    """Mean and std of the model's data preprocessor (ImageNet's when it has none)."""
    pre = model_cfg.get('data_preprocessor') or {}
    return tuple(pre.get('mean', IMAGENET_MEAN)), tuple(pre.get('std', IMAGENET_STD))


def default_img_size(model_cfg: ConfigDict) -> int:
    """The backbone's ``img_size`` (the pretraining global crop)."""
    size = model_cfg.backbone.get('img_size', 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)
