"""Per-parameter gradient-norm clipping, the rule of the GTSA authors' training loop.

The authors (and DINO, whose ``clip_gradients`` they call) clip every parameter
tensor's gradient to L2 norm ``max_norm`` on its own::

    coef = max_norm / (||g|| + 1e-6);  g *= coef  if coef < 1

MMEngine's ``clip_grad=dict(max_norm=3.0)`` instead scales *all* gradients by one
factor so that their joint norm is at most 3.0, which is far stricter (the joint
norm of a ViT-S's ~150 gradient tensors is many times the norm of each).

:class:`PerParameterClipOptimWrapper` and :class:`PerParameterClipAmpOptimWrapper`
are MMEngine's ``OptimWrapper`` / ``AmpOptimWrapper`` that also accept::

    clip_grad=dict(type='per_parameter_norm', max_norm=3.0)   # eps=1e-6 optional

and otherwise behave exactly as MMEngine's (``type='norm'`` / ``'value'`` still
work). Clipping runs where MMEngine clips: in ``step()``, after DDP has reduced the
gradients and, with AMP, after ``loss_scaler.unscale_``. A config that names the
rule with a plain ``OptimWrapper`` fails loudly (MMEngine rejects the type).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from torch import Tensor

PER_PARAMETER_NORM = 'per_parameter_norm'

# fp32 <-> AMP variants of the optim wrapper types, for switching AMP on or off
# (gtsa_mm.engine.optimizers.enable_amp / disable_amp) without losing the clip rule.
AMP_WRAPPER = {'OptimWrapper': 'AmpOptimWrapper',
               'PerParameterClipOptimWrapper': 'PerParameterClipAmpOptimWrapper'}
FP32_WRAPPER = {amp: fp32 for fp32, amp in AMP_WRAPPER.items()}


def clip_grad_norm_per_parameter_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                                  eps: float = 1e-6) -> Tensor:
    """Clip each parameter's gradient to L2 norm ``max_norm`` separately, in place.

    ``grad *= min(1, max_norm / (||grad|| + eps))`` for every parameter with a
    gradient, computed on the device with ``torch._foreach_*`` operators: no
    host-device sync. ``max_norm / x`` is evaluated as ``reciprocal(x) * max_norm``,
    as PyTorch evaluates ``float / Tensor``, so the result equals the authors'
    per-tensor loop bit for bit on the CPU. A non-finite norm gives a NaN/zero
    coefficient (such steps are skipped by AMP's loss scaler).

    Args:
        parameters (Tensor | Iterable[Tensor]): Parameters whose ``.grad`` to clip.
        max_norm (float): Largest L2 norm of each gradient tensor.
        eps (float): Added to each norm. Defaults to 1e-6 (the authors').

    Returns:
        Tensor: The L2 norm of all gradients together *before* clipping (what
        ``torch.nn.utils.clip_grad_norm_`` returns and MMEngine logs as
        ``grad_norm``), a 0-d float32 tensor on the first gradient's device.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    norms = torch._foreach_norm(grads, 2.0)
    coefs = torch._foreach_add(norms, eps)
    torch._foreach_reciprocal_(coefs)
    torch._foreach_mul_(coefs, float(max_norm))
    torch._foreach_clamp_max_(coefs, 1.0)
    torch._foreach_mul_(grads, coefs)  # coef 1.0 leaves a gradient bit-identical
    device = grads[0].device
    return torch.linalg.vector_norm(
        torch.stack([n.to(device=device, dtype=torch.float32) for n in norms]))


class _PerParameterClipMixin:
    """Adds ``clip_grad=dict(type='per_parameter_norm', max_norm=...)`` to a wrapper."""

    def __init__(self, *args, clip_grad: dict | None = None, **kwargs) -> None:
        per_parameter = (clip_grad is not None
                         and clip_grad.get('type') == PER_PARAMETER_NORM)
        super().__init__(*args, clip_grad=None if per_parameter else clip_grad, **kwargs)
        if per_parameter:
            options = {k: v for k, v in clip_grad.items() if k != 'type'}
            unknown = set(options) - {'max_norm', 'eps'}
            if 'max_norm' not in options or unknown:
                raise TypeError(f"clip_grad type '{PER_PARAMETER_NORM}' takes max_norm "
                                f'and optionally eps, got {sorted(options)}')
            # MMEngine's own _clip_grad calls clip_func(params, **clip_grad_kwargs)
            # in step() and logs its return value as train/grad_norm.
            self.clip_func = clip_grad_norm_per_parameter_
            self.grad_name = 'grad_norm'
            self.clip_grad_kwargs = options


@OPTIM_WRAPPERS.register_module()
class PerParameterClipOptimWrapper(_PerParameterClipMixin, OptimWrapper):
    """MMEngine's ``OptimWrapper`` that also understands per-parameter clipping.

    ``clip_grad=dict(type='per_parameter_norm', max_norm=3.0)`` clips each
    parameter's gradient norm to 3.0 separately (the GTSA / DINO authors' rule,
    :func:`clip_grad_norm_per_parameter_`); any other ``clip_grad`` is MMEngine's.
    The logged ``grad_norm`` is the joint norm before clipping, as MMEngine's.
    """


@OPTIM_WRAPPERS.register_module()
class PerParameterClipAmpOptimWrapper(_PerParameterClipMixin, AmpOptimWrapper):
    """MMEngine's ``AmpOptimWrapper`` that also understands per-parameter clipping.

    Its ``step()`` is MMEngine's: ``loss_scaler.unscale_`` first, then the clip
    (so the norms are of the true gradients), then the scaler's optimizer step.
    """
