"""Checkpoints that are either complete or absent, never truncated.

MMEngine's ``CheckpointHook`` writes ``epoch_N.pth`` in place, writes the
``last_checkpoint`` pointer that ``--resume`` follows in place, and with
``max_keep_ckpts`` deletes the oldest checkpoint *before* writing the new
one. A crash (killed job, full disk, node failure) while saving can therefore
leave a truncated checkpoint that resume then picks, an empty pointer (resume
silently starts from scratch), or no good checkpoint at all.

:class:`AtomicCheckpointHook` is a drop-in ``CheckpointHook``: name it as
``default_hooks.checkpoint.type``. It changes MMEngine's saving only at public
points. Every file goes through :class:`AtomicLocalBackend`, an MMEngine file
backend that writes to a temporary file in the same folder, flushes it to disk and
``os.replace``-s it onto the final name (atomic on POSIX file systems), so it covers
every file the hook saves (``best_*`` checkpoints too) without repeating MMEngine's
saving code. The hook's own ``file_backend`` defers deletions
(:class:`DeferredRemovals`) until the hook methods that save have saved, and then
rewrites ``last_checkpoint`` atomically (:func:`point_to`, the one writer of the
pointer in this package).

It also fails early and clearly: a checkpoint folder that cannot be written stops
training before the first iteration (or, if it fills up later, at the save) with an
error naming the path and the previous checkpoint, which stays untouched. A
``--resume`` checkpoint that is truncated or damaged is refused where resuming is
handled, by :class:`~gtsa_mm.engine.hooks.ExactResumeHook` (checkpoint_check.py).
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import uuid
from pathlib import Path

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.utils import mkdir_or_exist
from mmpretrain.registry import HOOKS

ATOMIC_BACKEND = 'atomic_local'


class CheckpointWriteError(OSError):
    """A checkpoint (or the ``last_checkpoint`` pointer) could not be written.

    Keeps the ``errno`` of the failure (``ENOSPC``, ``EROFS``, ``EACCES``, ...);
    the message names the file that was to be written.
    """


def _open_new(path: str):
    """Create ``path`` for writing; fails if it exists (tests make it fail)."""
    return open(path, 'xb')


def _write_all(file, data: bytes | memoryview) -> None:
    """The one place where checkpoint bytes reach the disk (tests crash it)."""
    file.write(data)


def _fsync_dir(directory: str) -> None:
    # Makes the rename itself durable; not every OS / file system allows it.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(data: bytes | memoryview, filepath: str | Path, fsync: bool = True) -> None:
    """Write ``data`` to ``filepath`` so that the file is complete or untouched.

    The bytes go to a hidden temporary file in the same folder (same file
    system, so the rename is atomic), which is flushed and then renamed over
    ``filepath`` with :func:`os.replace`. If anything fails, the temporary
    file is removed and ``filepath`` keeps its previous content.

    Args:
        data (bytes | memoryview): The content.
        filepath (str | Path): The final path.
        fsync (bool): Whether to ``fsync`` the file and its folder, so the new
            content also survives a power loss. Defaults to True.
    """
    filepath = osp.abspath(os.fspath(filepath))
    directory, name = osp.split(filepath)
    tmp_path = osp.join(directory, f'.{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp')
    try:
        mkdir_or_exist(directory)
        with _open_new(tmp_path) as f:
            _write_all(f, data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.remove(tmp_path)
        if isinstance(err, OSError) and not isinstance(err, CheckpointWriteError):
            reason = err.strerror or str(err)
            raise CheckpointWriteError(
                err.errno, f"Cannot write '{filepath}' (in folder '{directory}'): {reason}. "
                'The file keeps its previous content, if it had one') from err
        raise
    if fsync:
        _fsync_dir(directory)


#: The file in the work dir that names the checkpoint ``--resume`` loads (MMEngine's name).
POINTER_FILE = 'last_checkpoint'


def pointer_path(work_dir: str) -> str:
    """``work_dir/last_checkpoint``."""
    return osp.join(work_dir, POINTER_FILE)


def read_pointer(work_dir: str) -> str | None:
    """The checkpoint ``work_dir/last_checkpoint`` names, or None (no file, or empty)."""
    path = pointer_path(work_dir)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return f.read().strip() or None


def point_to(work_dir: str, checkpoint: str, fsync: bool = True) -> None:
    """Make ``work_dir/last_checkpoint`` name ``checkpoint``, atomically; the one writer
    of the pointer (the save hook and out-of-schedule saves both call it)."""
    atomic_write_bytes(checkpoint.encode('utf-8'), pointer_path(work_dir), fsync=fsync)


@register_backend(ATOMIC_BACKEND, force=True)
class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend, with atomic :meth:`put` and
    :meth:`put_text`.

    Select it with ``backend_args=dict(backend='atomic_local')`` wherever
    MMEngine takes ``backend_args``; :class:`AtomicCheckpointHook` does so by
    default.

    Args:
        fsync (bool): Whether to flush each written file and its folder to
            disk before returning. Defaults to True.
    """

    def __init__(self, fsync: bool = True) -> None:
        super().__init__()
        self.fsync = fsync

    def put(self, obj: bytes, filepath: str | Path) -> None:
        """Write bytes to ``filepath`` atomically.

        Args:
            obj (bytes): The content.
            filepath (str | Path): The final path.
        """
        atomic_write_bytes(obj, filepath, fsync=self.fsync)

    def put_text(self, obj: str, filepath: str | Path, encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically.

        Args:
            obj (str): The content.
            filepath (str | Path): The final path.
            encoding (str): The text encoding. Defaults to 'utf-8'.
        """
        atomic_write_bytes(obj.encode(encoding), filepath, fsync=self.fsync)


class DeferredRemovals:
    """A file backend whose ``remove`` and ``rmtree`` wait for :meth:`flush`.

    :class:`AtomicCheckpointHook` puts its ``file_backend`` in one, so the outdated
    checkpoints MMEngine's hook deletes before saving the next one are deleted only
    after that one is saved (:meth:`flush`), or not at all if saving fails
    (:meth:`discard`). Everything else goes to the wrapped backend.

    Args:
        backend: The file backend (or ``FileClient``) to wrap.
    """

    def __init__(self, backend) -> None:
        self.backend = backend
        self.pending: list[tuple[str, str]] = []

    def __getattr__(self, name: str):
        if name == 'backend':  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.backend, name)

    def remove(self, filepath) -> None:
        self.pending.append(('remove', str(filepath)))

    def rmtree(self, dir_path) -> None:  # DeepSpeed saves checkpoints as folders
        self.pending.append(('rmtree', str(dir_path)))

    def discard(self) -> None:
        """Forget the deletions asked for since the last flush."""
        self.pending.clear()

    def flush(self, keep=()) -> None:
        """Carry out the deletions asked for, except of the paths in ``keep``."""
        pending, self.pending = self.pending, []
        for operation, path in pending:
            if path in keep:
                continue
            if operation == 'remove' and self.backend.isfile(path):
                self.backend.remove(path)
            elif operation == 'rmtree' and self.backend.isdir(path):
                self.backend.rmtree(path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """A ``CheckpointHook`` whose files are complete or absent after a crash.

    Takes every argument of :class:`mmengine.hooks.CheckpointHook` and
    behaves the same, except that:

    - checkpoints are written to a temporary file in the same folder and
      renamed into place (:class:`AtomicLocalBackend`), so no file with a
      checkpoint's name is ever truncated;
    - with ``max_keep_ckpts`` (and ``save_best``), the outdated checkpoint is
      deleted after the new one is saved and ``last_checkpoint`` names it, not
      before, so a good checkpoint always exists;
    - ``work_dir/last_checkpoint``, which ``--resume`` follows, is rewritten
      atomically and flushed to disk after each save (:func:`point_to`);
    - a save that fails (full disk, read-only folder) stops training with an
      error naming the file and the previous checkpoint, which stays in place
      and named by ``last_checkpoint``.

    The hook changes MMEngine's saving only at public points: the file backend
    named by ``backend_args`` (the hook's ``file_backend`` defers deletions) and
    the hook methods that save (``after_train_iter``, ``after_train_epoch``,
    ``after_val_epoch``), which it wraps. The one step left to MMEngine is its
    in-place write of ``last_checkpoint`` right after a complete save, which the
    hook then replaces atomically; a crash inside that write can leave the
    pointer empty, and ``--resume`` then stops with the newest complete
    checkpoint's name (:class:`~gtsa_mm.engine.hooks.ExactResumeHook`).

    When ``backend_args`` or ``file_client_args`` are given, or ``out_dir``
    is a remote URI (``s3://...``), the given storage is used as is (object
    stores replace objects atomically anyway); the deletion order and the
    error on a failed save are the same.

    Example::

        default_hooks = dict(
            checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3))

    Args:
        *args: Positional arguments of ``CheckpointHook``.
        fsync (bool): Whether to flush checkpoints and the pointer file to
            disk (``os.fsync``) before renaming, so they survive a power loss
            too. Defaults to True.
        **kwargs: Keyword arguments of ``CheckpointHook`` (``interval``,
            ``by_epoch``, ``max_keep_ckpts``, ``save_best``, ...).
    """

    def __init__(self, *args, fsync: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fsync = fsync
        out_dir = '' if self.out_dir is None else os.fspath(self.out_dir)
        if self.backend_args is None and self.file_client_args is None and '://' not in out_dir:
            self.backend_args = dict(backend=ATOMIC_BACKEND, fsync=fsync)

    def before_train(self, runner) -> None:
        """Defer the hook's deletions; fail now, not after the first interval, if
        checkpoints cannot be written."""
        super().before_train(runner)
        self.file_backend = DeferredRemovals(self.file_backend)
        out_dir = os.fspath(self.out_dir)
        if not is_main_process() or '://' in out_dir:
            return
        probe = osp.join(out_dir, '.write_test')
        try:
            atomic_write_bytes(b'', probe, fsync=False)
            os.remove(probe)
        except CheckpointWriteError as err:
            raise CheckpointWriteError(
                err.errno, f"Checkpoints cannot be written to '{out_dir}': "
                f'{err.__cause__.strerror or err}. Training did not start. Make the folder '
                'writable or choose another one (--work-dir, or default_hooks.checkpoint.'
                'out_dir)') from err

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        with self._saving(runner):
            super().after_train_iter(runner, batch_idx, data_batch, outputs)

    def after_train_epoch(self, runner) -> None:
        with self._saving(runner):
            super().after_train_epoch(runner)

    def after_val_epoch(self, runner, metrics) -> None:
        with self._saving(runner):
            super().after_val_epoch(runner, metrics)

    def _current_files(self) -> set[str]:
        """The checkpoints this hook has just made current (never deleted)."""
        best = [getattr(self, 'best_ckpt_path', None),
                *getattr(self, 'best_ckpt_path_dict', {}).values()]
        return {str(p) for p in (self.last_ckpt, *best) if p is not None}

    @contextlib.contextmanager
    def _saving(self, runner):
        """Around MMEngine's saving: on success point ``last_checkpoint`` at the new
        checkpoint atomically, then delete what MMEngine marked outdated; on failure
        delete nothing and name the previous checkpoint."""
        before = self.last_ckpt
        previous = before or runner.message_hub.get_info('last_ckpt')
        try:
            yield
        except BaseException as err:
            self.file_backend.discard()
            self.last_ckpt = previous
            runner.message_hub.update_info('last_ckpt', previous)
            if not isinstance(err, CheckpointWriteError):
                raise
            kept = (f"The previous checkpoint is untouched: '{previous}'; last_checkpoint "
                    'still names it' if previous else 'No earlier checkpoint of this run exists')
            raise CheckpointWriteError(
                err.errno, f'{err.strerror}. {kept}. Free space or make the folder writable, '
                'then continue with --resume') from err
        if self.last_ckpt not in (None, before) and is_main_process():
            point_to(runner.work_dir, self.last_ckpt, fsync=self.fsync)
        self.file_backend.flush(keep=self._current_files())


def save_iteration_checkpoint(runner, filename: str | None = None, out_dir: str | None = None,
                              fsync: bool = True) -> str:
    """Save the state after the current iteration as ``out_dir/filename``, atomically,
    and point ``last_checkpoint`` at it; returns its path.

    For checkpoints outside the schedule (preemption). The settings (folder, storage,
    optimizer and scheduler state) are those of the run's ``CheckpointHook`` if it has
    one, else the work dir and everything. The file is not entered into
    ``max_keep_ckpts``' list, so it is never deleted for being old.
    """
    hook = next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)
    out_dir = out_dir or (hook.out_dir if hook is not None and hook.out_dir else
                          runner.work_dir)
    out_dir = os.fspath(out_dir)
    filename = filename or f'iter_{runner.iter + 1}.pth'
    backend_args = getattr(hook, 'backend_args', None)
    if backend_args is None and '://' not in out_dir:
        backend_args = dict(backend=ATOMIC_BACKEND, fsync=fsync)
    runner.save_checkpoint(
        out_dir, filename,
        save_optimizer=getattr(hook, 'save_optimizer', True),
        save_param_scheduler=getattr(hook, 'save_param_scheduler', True),
        meta=dict(epoch=runner.epoch, iter=runner.iter + 1), by_epoch=False,
        backend_args=backend_args)
    path = osp.join(out_dir, filename) if '://' not in out_dir else f'{out_dir}/{filename}'
    runner.message_hub.update_info('last_ckpt', path)
    if hook is not None:
        hook.last_ckpt = path
    if is_main_process():
        point_to(runner.work_dir, path, fsync=fsync)
    return path
