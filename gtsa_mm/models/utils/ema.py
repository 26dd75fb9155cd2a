"""CosineEMA with one fused multi-tensor update and no host-device syncs."""
from __future__ import annotations

from math import cos, pi

import torch
from mmengine.logging import MessageHub
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class ForeachCosineEMA(CosineEMA):
    """:class:`mmpretrain.models.utils.CosineEMA`, updated with ``torch._foreach_lerp_``.

    Same formula, arguments and state dict (``module.*``, ``steps``) as
    ``CosineEMA``, so checkpoints are interchangeable. MMEngine's version runs a
    Python loop of two kernels per parameter and compares the ``steps`` tensor on
    the device each step (a host-device sync); this one keeps a host copy of the
    step count and updates all parameters with one multi-tensor kernel.

    Teacher parameters move as ``avg = (1 - m) avg + m src`` with
    ``m = end - (end - start) * (cos(pi * step / max_iters) + 1) / 2`` (MMPretrain
    convention: ``m`` is one minus the usual teacher momentum).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._host_steps: int | None = None
        self._avg_params = [p for p in self.avg_parameters.values()
                            if p.dtype.is_floating_point]
        self._avg_names = [k for k, p in self.avg_parameters.items()
                           if p.dtype.is_floating_point]

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._host_steps = None  # re-read after a resume

    def momentum_at(self, steps: int) -> float:
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        annealing = (cos(pi * steps / float(max_iters)) + 1) / 2
        return self.end_momentum - (self.end_momentum - self.momentum) * annealing

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        if self._host_steps is None:
            self._host_steps = int(self.steps.item())
        steps = self._host_steps
        src = (model.state_dict() if self.update_buffers else dict(model.named_parameters()))
        sources = [src[k].detach() for k in self._avg_names]
        if steps == 0:
            torch._foreach_copy_(self._avg_params, sources)
        elif steps % self.interval == 0:
            torch._foreach_lerp_(self._avg_params, sources, self.momentum_at(steps))
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.data.copy_(b_src.data)
        self.steps.add_(1)
        self._host_steps = steps + 1
