"""Layer-wise learning-rate decay for an mmpretrain ``VisionTransformer`` anywhere.

The constructors shipped with MMPretrain, MMDetection and MMSegmentation either ask
the model itself for layer depths or match class and parameter names of their own
backbones; none of them handles an ``mmpretrain.VisionTransformer`` inside a
detector or a segmentor. This one finds every ``VisionTransformer`` by type, so the
same ``constructor='ViTLayerDecayOptimWrapperConstructor'`` works in all three
toolboxes.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

_LAYER = re.compile(r'layers\.(\d+)\.')


def find_vits(model: nn.Module) -> dict[str, int]:
    """Where the model's mmpretrain ViTs are and how deep they are.

    Args:
        model (nn.Module): Any model (classifier, detector, segmentor...).

    Returns:
        dict[str, int]: Parameter-name prefix of each ``VisionTransformer``
        (``'backbone.'``, or ``''`` for a bare ViT) mapped to its ``num_layers``.
    """
    from mmpretrain.models import VisionTransformer

    return {(name + '.') if name else '': module.num_layers
            for name, module in model.named_modules()
            if isinstance(module, VisionTransformer)}


def vit_layer_id(param_name: str, vits: dict[str, int]) -> int:
    """The layer id of a parameter for layer-wise learning-rate decay.

    Inside a ViT: patch embedding, pre-norm and the ViT's own tokens
    (``cls_token``, ``pos_embed``) get 0; ``layers.i`` gets ``i + 1``; the
    final norm gets ``num_layers + 1``. Parameters outside every ViT (necks,
    heads) get the deepest ViT's ``num_layers + 1``.

    Args:
        param_name (str): Name from ``model.named_parameters()``.
        vits (dict[str, int]): Output of :func:`find_vits`.

    Returns:
        int: The layer id, from 0 to ``max(num_layers) + 1``.
    """
    prefixes = [prefix for prefix in vits if param_name.startswith(prefix)]
    if not prefixes:
        return max(vits.values()) + 1
    prefix = max(prefixes, key=len)
    name = param_name[len(prefix):]
    if '.' not in name or name.startswith(('patch_embed.', 'pre_norm.')):
        return 0
    match = _LAYER.match(name)
    if match:
        return int(match.group(1)) + 1
    return vits[prefix] + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer with layer-wise lr decay for the mmpretrain ViT(s) of any model.

    With ``L = max(num_layers)`` a parameter of layer id ``i`` (see
    :func:`vit_layer_id`) gets ``lr * layer_decay_rate ** (L + 1 - i)``: the head
    keeps the base lr, the last block gets ``rate`` times it, the patch embedding
    ``rate ** (L + 1)`` times it. One-dimensional parameters (norms, biases) and
    the names in ``no_decay_names`` get no weight decay. Frozen parameters
    (``requires_grad=False``) are left out of the optimizer.

    Registered in MMEngine's root ``OPTIM_WRAPPER_CONSTRUCTORS``, so MMDetection,
    MMSegmentation and MMPretrain configs find it by name::

        optim_wrapper = dict(
            optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
            constructor='ViTLayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.65))

    Args:
        optim_wrapper_cfg (dict): The optim wrapper config, with an ``optimizer``
            entry whose ``lr`` (required) and ``weight_decay`` are the base values.
        paramwise_cfg (dict, optional): Accepts only

            - ``layer_decay_rate`` (float): decay per layer, in (0, 1].
              Defaults to 1.0 (no decay; only the weight-decay exclusions).
            - ``no_decay_names`` (Sequence[str]): last name components of
              parameters without weight decay, besides every 1-D parameter.
              Defaults to ``('pos_embed', 'cls_token')``.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(paramwise_cfg) - {'layer_decay_rate', 'no_decay_names'}
        if unknown:
            raise ValueError(f'{type(self).__name__} got unsupported paramwise_cfg keys '
                             f'{sorted(unknown)}; it takes layer_decay_rate and no_decay_names.')
        self.layer_decay_rate = float(paramwise_cfg.get('layer_decay_rate', 1.0))
        if not 0.0 < self.layer_decay_rate <= 1.0:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {self.layer_decay_rate}.')
        self.no_decay_names: Sequence[str] = tuple(
            paramwise_cfg.get('no_decay_names', ('pos_embed', 'cls_token')))
        # A non-empty paramwise_cfg makes the base class call ``add_params``.
        super().__init__(optim_wrapper_cfg, dict(layer_decay_rate=self.layer_decay_rate,
                                                 no_decay_names=self.no_decay_names))
        if self.base_lr is None:
            raise ValueError(f'{type(self).__name__} needs optimizer.lr in the config.')

    def _has_weight_decay(self, name: str, param: nn.Parameter) -> bool:
        return param.ndim > 1 and name.rsplit('.', 1)[-1] not in self.no_decay_names

    def add_params(self, params: list[dict], module: nn.Module, **kwargs) -> None:
        """Append one parameter group per (layer id, with/without weight decay).

        Args:
            params (list[dict]): The list of parameter groups to extend.
            module (nn.Module): The whole model.
            **kwargs: Ignored (the base class passes ``prefix`` on recursion,
                which this constructor does not use).
        """
        vits = find_vits(module)
        if not vits:
            raise ValueError(f'{type(self).__name__}: the model has no mmpretrain '
                             'VisionTransformer to apply layer-wise lr decay to.')
        last_id = max(vits.values()) + 1
        groups: dict[tuple[int, bool], dict] = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            layer_id = vit_layer_id(name, vits)
            decay = self._has_weight_decay(name, param)
            scale = self.layer_decay_rate ** (last_id - layer_id)
            group = groups.get((layer_id, decay))
            if group is None:
                group = groups[(layer_id, decay)] = dict(
                    params=[], lr=self.base_lr * scale, lr_scale=scale, layer_id=layer_id)
                if not decay:
                    group['weight_decay'] = 0.0
                elif self.base_wd is not None:
                    group['weight_decay'] = self.base_wd
            group['params'].append(param)
        params.extend(groups[key] for key in sorted(groups))
        summary = ', '.join(f'{layer_id}: x{self.layer_decay_rate ** (last_id - layer_id):.4g}'
                            for layer_id in sorted({key[0] for key in groups}))
        print_log(f'{type(self).__name__}: lr scale per layer id {{{summary}}}; '
                  f'{len(groups)} parameter groups', logger='current')
