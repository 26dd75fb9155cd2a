"""Regional ``torch.compile`` of a ViT's transformer layers (opt-in: ``GTSA(compile_layers=...)``).

Compiling whole networks was tried and did not pay (see docs/benchmarks.md: no timing
within 150 s, or a crash): every crop size and the teacher's no-grad pass is a new
graph of the whole ViT. The twelve layers of a ViT are the same code on the same
shapes, so each layer is compiled on its own (``layer.compile()``, the PyTorch
"regional compilation" recipe) and Dynamo reuses one graph for all of them: one
compilation per crop size and grad mode (three for GTSA: student 224 px, student
96 px, teacher 224 px without grad). What the compiler gains is fusion of the
element-wise work between the matmuls (layer norms, GELU, drop path, residual adds,
the dtype casts of mixed precision), forward and backward.

One thing stands in the way in MMCV's ``DropPath``: its rate is a NumPy float (from
MMPretrain's ``np.linspace``) and it branches on it in Python, which Dynamo turns into
graph breaks, and a plain float would be specialised into a separate graph per layer.
:class:`DropPathRate` keeps the rate in a (non-persistent) tensor buffer instead, so
all layers trace to the same graph. It has no parameters and no state-dict entries:
checkpoints keep exactly the keys of ``mmpretrain.VisionTransformer``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class DropPathRate(nn.Module):
    """Stochastic depth, as MMCV's ``DropPath``, with the rate held in a tensor.

    In training each sample's branch is kept with probability ``1 - drop_prob`` and
    then scaled by ``1 / (1 - drop_prob)`` (MMCV's rule); in eval it is the identity.
    The per-sample mask and scale are computed in float32 on a ``(N, 1, ..., 1)``
    tensor and applied with one multiply. (MMCV adds the rate to a random number in
    the input's dtype, which in bfloat16 can round up to a mask of 2 when the rate is
    close to 0.)

    Args:
        drop_prob (float): Probability of dropping a sample's branch, in [0, 1).
    """

    def __init__(self, drop_prob: float = 0.1) -> None:
        super().__init__()
        drop_prob = float(drop_prob)
        if not 0. <= drop_prob < 1.:
            raise ValueError(f'DropPathRate: drop_prob must be in [0, 1), got {drop_prob}')
        self.drop_prob = drop_prob  # for reading only; forward uses the buffer
        self.register_buffer('keep_prob', torch.tensor(1. - drop_prob), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        shape = (x.shape[0], ) + (1, ) * (x.ndim - 1)
        keep = self.keep_prob.float()
        mask = (keep + torch.rand(shape, device=x.device)).floor_()
        return x * (mask / keep).to(x.dtype)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


def _replace_drop_paths(module: nn.Module, device: torch.device) -> int:
    from mmcv.cnn.bricks.drop import DropPath
    replaced = 0
    for name, child in module.named_children():
        if isinstance(child, DropPath):
            new = DropPathRate(float(child.drop_prob)).to(device)
            new.train(child.training)
            setattr(module, name, new)
            replaced += 1
        else:
            replaced += _replace_drop_paths(child, device)
    return replaced


def compile_vit_layers(vit: nn.Module, **compile_kwargs) -> nn.Module:
    """Compile each transformer layer of an ``mmpretrain.VisionTransformer`` in place.

    MMCV ``DropPath`` modules inside the layers become :class:`DropPathRate` (same
    rule, no state), then every layer gets ``layer.compile(dynamic=False,
    **compile_kwargs)``. Parameters, buffers and state-dict keys are unchanged.

    Args:
        vit (nn.Module): A module with a ``layers`` ``ModuleList`` (the ViT).
        **compile_kwargs: Passed to :meth:`torch.nn.Module.compile` (``mode``,
            ``backend``, ...).

    Returns:
        nn.Module: ``vit`` itself.
    """
    layers = getattr(vit, 'layers', None)
    if not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        raise TypeError('compile_vit_layers: expected a VisionTransformer-like module with a '
                        f'non-empty `layers` ModuleList, got {type(vit).__name__}')
    compile_kwargs.setdefault('dynamic', False)
    for layer in layers:
        device = next(layer.parameters(), torch.empty(0)).device
        _replace_drop_paths(layer, device)
        layer.compile(**compile_kwargs)
    return vit
