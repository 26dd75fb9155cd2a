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
instead of running code (:class:`UnsafeCheckpointError`, naming the object). A file
torch cannot read at all, e.g. a download that stopped early or the HTML page a Google
Drive link saves, raises :class:`NotACheckpointError`, which says so from the file's
size and first bytes.
"""
from __future__ import annotations

import argparse
import codecs
import errno
import io
import os.path as osp
import pickle
import re
import struct
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    'FOREIGN_CHECKPOINT_GLOBALS', 'NotACheckpointError', 'UnsafeCheckpointError',
    'history_buffer_getattr', 'load_checkpoint_weights_only', 'patch_mmengine_checkpoint_loading',
    'runner_checkpoint_safe_globals'
]

#: The non-tensor objects the checkpoints of other codebases hold besides MMEngine's:
#: ``args``, the ``argparse.Namespace`` of the command line, in the authors' GTSA
#: (``util/misc.py`` ``save_model``) and DINO (``main_dino.py``) checkpoints.
FOREIGN_CHECKPOINT_GLOBALS: tuple = (argparse.Namespace, )


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a pickled object that weights-only loading does not rebuild."""


class NotACheckpointError(RuntimeError):
    """A file is no PyTorch checkpoint: truncated, or another file (a web page) by that name."""


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


#: What torch's weights-only unpickler says when it refuses an object a file asks it to
#: import or call; the group is the object, as torch names it.
_REFUSALS = (
    r'GLOBAL (\S+) was not an allowed global',  # a class or function not allowlisted
    r'unsupported GLOBAL (\S+) whose module',  # a blocked module: os, posix, subprocess...
    r'unrecognized function (<[^>]*>|\S+)',
    r"Can only (?:create new object|build) .* but got (<class '[^']*'>|\S+)",
    r'(\S+) must be imported to load',  # nested jagged tensors, DTensors
    r'refusing (getattr\([^)]*\))',  # history_buffer_getattr
)
#: Zip-format checkpoints (torch >= 1.6) start with a zip entry, legacy ones with a pickle.
_ZIP_MAGIC, _PICKLE_PROTO = b'PK\x03\x04', b'\x80'
#: Messages of torch's readers for a file that ends early or is damaged.
_DAMAGED = ('PytorchStreamReader', 'unexpected EOF', 'magic number', 'corrupt')


def _refused_object(message: str) -> str | None:
    """The object torch's weights-only unpickler refused, as it names it; None if none."""
    for pattern in _REFUSALS:
        found = re.search(pattern, message)
        if found:
            return found.group(1).rstrip('.')
    return None


def _is_unreadable(error: Exception) -> bool:
    """Whether ``torch.load`` failed because the bytes are no checkpoint it can read."""
    if isinstance(error, (EOFError, pickle.UnpicklingError, struct.error)):
        return True
    if isinstance(error, OSError):  # the zip reader seeking past a truncated file's start
        return error.errno == errno.EINVAL
    if isinstance(error, ValueError):  # the same, in memory (io.BytesIO)
        return 'seek' in str(error)
    return isinstance(error, RuntimeError) and any(text in str(error) for text in _DAMAGED)


def _torch_reason(error: Exception) -> str:
    """torch's own words, one line: the unpickler's message without torch's advice."""
    lines = [line.strip() for line in str(error).splitlines()
             if line.strip() and not line.startswith('Check the documentation')]
    if not lines:
        return type(error).__name__
    reason = lines[-1] if lines[0].startswith('Weights only load failed') else lines[0]
    return f"{type(error).__name__}: {reason.split('. ')[0][:200]}"


def _what_the_file_is(head: bytes, size: int) -> str:
    """What the first bytes of a file torch could not read say about it."""
    if size == 0:
        return 'it is empty, most likely a download or copy that failed'
    start = head.lstrip().lower()
    if start.startswith(b'<') or b'<html' in start or b'<!doctype' in start:
        return ('it is an HTML page, which is what a download link saves when the server '
                'answers with a web page instead of the file (Google Drive does so for large '
                "files: its virus-scan warning page); download the file itself (for Google "
                "Drive, e.g. with gdown, or through the page's download button)")
    if head.startswith(_ZIP_MAGIC):
        return ('it starts as a zip-format PyTorch checkpoint but ends early or is damaged, '
                'most likely a download or copy that stopped; download it again')
    if head.startswith(_PICKLE_PROTO):
        return ('it starts as a legacy-format PyTorch checkpoint but ends early or is '
                'damaged, most likely a download or copy that stopped; download it again')
    return (f'its first bytes {head[:16]!r} are neither a zip-format nor a legacy-format '
            'PyTorch checkpoint: a truncated download, or another file (an HTML page, e.g. '
            'from Google Drive) saved under this name')


def _not_a_checkpoint(filename: str, source: str | io.BytesIO,
                      error: Exception) -> NotACheckpointError:
    """The error for a file ``torch.load`` cannot read as a checkpoint."""
    if isinstance(source, io.BytesIO):
        data = source.getvalue()
        head, size = data[:64], len(data)
    else:
        size = osp.getsize(source)
        with open(source, 'rb') as file:
            head = file.read(64)
    return NotACheckpointError(
        f'{filename!r} is not a PyTorch checkpoint ({size} bytes): '
        f"{_what_the_file_is(head, size)}. Compare its size with the original's and look at "
        f'its first bytes (head -c 200 FILE). (torch: {_torch_reason(error)})')


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
        UnsafeCheckpointError: The file holds another pickled object (a class or
            function to import and call); the message names it and says why it is
            refused.
        NotACheckpointError: torch cannot read the file as a checkpoint: it is empty,
            ends early (an interrupted download or copy) or is another file, e.g. the
            HTML page a Google Drive link saves; the message says which, from its
            first bytes.
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
        if refused is None:
            raise _not_a_checkpoint(filename, source, error) from None
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
    except (EOFError, OSError, RuntimeError, ValueError, struct.error) as error:
        if not _is_unreadable(error):
            raise
        raise _not_a_checkpoint(filename, source, error) from None
