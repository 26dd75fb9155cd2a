"""Loading MMEngine Runner checkpoints under torch >= 2.6.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. MMEngine 0.10.7
calls ``torch.load`` without that argument, and its own Runner checkpoints hold
objects the restricted unpickler refuses: ``mmengine.logging.HistoryBuffer`` in the
message hub, numpy arrays and scalars in the logged history. Resume, ``load_from``
and ``init_cfg=dict(type='Pretrained', ...)`` of a full Runner checkpoint all fail.

We keep ``weights_only=True`` and add exactly those types to torch's allowlist
(``torch.serialization.add_safe_globals``). ``HistoryBuffer`` pickles its statistics
functions as ``getattr(HistoryBuffer, 'min')``; rather than allowing ``getattr``, we
allow a stand-in that resolves only those names on ``HistoryBuffer``. ``bytes`` is
allowed too: torch saves with pickle protocol 2, which writes an empty ``bytes`` object
(the data of an empty numpy array, e.g. a ``HistoryBuffer`` that never got a value) as
a call to ``bytes()``; building a bytes object runs no code. Arbitrary
pickled code stays rejected, so a foreign or malicious file still fails to load
instead of running code.
"""
from __future__ import annotations

import codecs
import pickle

import numpy as np
import torch


def history_buffer_getattr(obj: object, name: str):
    """``getattr`` restricted to ``HistoryBuffer``'s statistics functions."""
    from mmengine.logging import HistoryBuffer

    if obj is HistoryBuffer and name in ('min', 'max', 'mean', 'current'):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'gtsa_mm: refusing getattr({obj!r}, {name!r}) while loading a checkpoint with '
        'weights_only=True; only MMEngine HistoryBuffer statistics are allowed. Load the '
        'file with torch.load(..., weights_only=False) only if you trust it.')


def runner_checkpoint_safe_globals() -> list:
    """The non-tensor types an MMEngine Runner checkpoint contains."""
    from mmengine.logging import HistoryBuffer

    multiarray = getattr(np, '_core', None)
    multiarray = multiarray.multiarray if multiarray is not None else np.core.multiarray
    safe = [HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar,
            codecs.encode, bytes, (history_buffer_getattr, 'builtins.getattr')]
    # numpy >= 1.25 pickles each dtype through its own class (numpy.dtypes.Float64DType, ...).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return safe


_PATCHED = False


def patch_mmengine_checkpoint_loading() -> None:
    """Allow MMEngine's own checkpoint types in ``torch.load(weights_only=True)``.

    Idempotent; called when :mod:`gtsa_mm` is imported, so every config that names
    ``custom_imports=dict(imports=['gtsa_mm'])`` (pretraining, MMDetection,
    MMSegmentation, MMPretrain fine-tuning) can resume and hand off checkpoints.
    """
    global _PATCHED
    if _PATCHED or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    torch.serialization.add_safe_globals(runner_checkpoint_safe_globals())
    _PATCHED = True
