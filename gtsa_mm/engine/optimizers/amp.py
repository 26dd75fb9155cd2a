"""Mixed precision on or off for an optim wrapper config, as tools/train.py --amp-dtype sets it."""
from __future__ import annotations

from .per_parameter_clip import AMP_WRAPPER, FP32_WRAPPER


def enable_amp(optim_wrapper: dict, dtype: str | None = None) -> dict:
    """Make ``optim_wrapper`` (a config dict, changed in place) an AMP optim wrapper.

    The type becomes the AMP variant of the config's wrapper: MMEngine's
    ``AmpOptimWrapper``, or ``PerParameterClipAmpOptimWrapper`` for a config that
    clips per parameter (so ``--amp`` keeps the clip rule). ``dtype`` None or
    ``'float16'`` keep the config's loss scaling (``'dynamic'`` when it has none);
    ``'bfloat16'`` has float32's exponent range, so it gets no loss scaling, and
    with it no found-inf check (a host-device sync) per step.
    """
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    optim_wrapper['type'] = (wrapper_type if wrapper_type in FP32_WRAPPER
                             else AMP_WRAPPER.get(wrapper_type, 'AmpOptimWrapper'))
    optim_wrapper.setdefault('loss_scale', 'dynamic')
    if dtype:
        optim_wrapper['dtype'] = dtype
    if dtype == 'bfloat16':
        optim_wrapper['loss_scale'] = dict(enabled=False)
    return optim_wrapper


def disable_amp(optim_wrapper: dict) -> dict:
    """Make ``optim_wrapper`` (a config dict, changed in place) its full-precision variant.

    ``AmpOptimWrapper`` -> ``OptimWrapper``, ``PerParameterClipAmpOptimWrapper`` ->
    ``PerParameterClipOptimWrapper``; the AMP-only keys are dropped. Optimizer,
    ``clip_grad`` and ``paramwise_cfg`` stay as they are.
    """
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    optim_wrapper['type'] = FP32_WRAPPER.get(wrapper_type, wrapper_type)
    for key in ('dtype', 'loss_scale', 'use_fsdp'):
        optim_wrapper.pop(key, None)
    return optim_wrapper
