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

import argparse
import codecs
import io
import os.path as osp
import pickle
import re
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    'FOREIGN_CHECKPOINT_GLOBALS', 'UnsafeCheckpointError', 'history_buffer_getattr',
    'load_checkpoint_weights_only', 'patch_mmengine_checkpoint_loading',
    'runner_checkpoint_safe_globals'
]

#: The non-tensor objects the checkpoints of other codebases hold besides MMEngine's:
#: ``args``, the ``argparse.Namespace`` of the command line, in the authors' GTSA
#: (``util/misc.py`` ``save_model``) and DINO (``main_dino.py``) checkpoints.
FOREIGN_CHECKPOINT_GLOBALS: tuple = (argparse.Namespace, )


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a pickled object that weights-only loading does not rebuild."""


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


def _refused_object(message: str) -> str:
    """The object torch's weights-only unpickler refused, as it names it."""
    for pattern in (r'GLOBAL ([\w.]+)', r'unrecognized function ([^\s,]+)',
                    r'Unsupported class ([\w.]+)', r"Unsupported operand (\S+)"):
        found = re.search(pattern, message)
        if found:
            return found.group(1).rstrip('.')
    return message.strip().splitlines()[0] if message.strip() else 'an unknown object'


def load_checkpoint_weights_only(filename: str,
                                 map_location: str = 'cpu',
                                 extra_globals: Sequence = FOREIGN_CHECKPOINT_GLOBALS) -> object:
    """``torch.load(weights_only=True)`` of a local file or URI, never a plain unpickle.

    Besides tensors, numbers, strings and containers, the file may hold the MMEngine
    Runner types of :func:`runner_checkpoint_safe_globals` (registered when
    :mod:`gtsa_mm` is imported) and ``extra_globals``, allowed only for this call.
    ``weights_only=True`` is passed explicitly, so torch's
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot turn it off. URIs (``https://``,
    ``s3://``...) are read into memory through ``mmengine.fileio.get`` first, because
    MMEngine's ``CheckpointLoader`` reads URLs with a full unpickle.

    Args:
        filename (str): Local path or URI.
        map_location (str): Passed to ``torch.load``. Defaults to ``'cpu'``.
        extra_globals (Sequence): Classes and functions allowed besides torch's and
            MMEngine's. Defaults to :data:`FOREIGN_CHECKPOINT_GLOBALS`.

    Returns:
        object: What the file holds.

    Raises:
        UnsafeCheckpointError: The file holds another pickled object; the message
            names it and says why it is refused.
    """
    patch_mmengine_checkpoint_loading()
    if '://' in filename and not osp.exists(filename):
        from mmengine.fileio import get
        source = io.BytesIO(get(filename))
    else:
        source = filename
    try:
        with torch.serialization.safe_globals(list(extra_globals)):
            return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        refused = _refused_object(str(error))
        allowed = ', '.join(f'{g.__module__}.{g.__qualname__}' for g in extra_globals)
        raise UnsafeCheckpointError(
            f'Refused to load {filename!r}: it holds the pickled object {refused}, which '
            'loading would have to import and call. Unpickling an arbitrary object can run '
            'arbitrary code, so checkpoints are read with torch.load(weights_only=True), '
            'which rebuilds only tensors, numbers, strings, containers, the types of '
            f'MMEngine Runner checkpoints and {allowed} (the args of the authors\' GTSA and '
            'of DINO checkpoints). Nothing of the file was run. If you trust its origin, '
            're-save its tensors alone (torch.save of the state dict) and load that.'
        ) from None
