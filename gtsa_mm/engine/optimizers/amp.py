"""Mixed precision for an optim wrapper config, as tools/train.py --amp-dtype sets it."""
from __future__ import annotations


def enable_amp(optim_wrapper: dict, dtype: str | None = None) -> dict:
    """Make ``optim_wrapper`` (a config dict, changed in place) MMEngine's ``AmpOptimWrapper``.

    ``dtype`` None or ``'float16'`` keep the config's loss scaling (``'dynamic'``
    when it has none); ``'bfloat16'`` has float32's exponent range, so it gets no
    loss scaling, and with it no found-inf check (a host-device sync) per step.
    """
    optim_wrapper['type'] = 'AmpOptimWrapper'
    optim_wrapper.setdefault('loss_scale', 'dynamic')
    if dtype:
        optim_wrapper['dtype'] = dtype
    if dtype == 'bfloat16':
        optim_wrapper['loss_scale'] = dict(enabled=False)
    return optim_wrapper
