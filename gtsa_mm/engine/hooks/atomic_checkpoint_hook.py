"""Checkpoints that are either complete or absent, never truncated.

MMEngine's ``CheckpointHook`` writes ``epoch_N.pth`` in place, writes the
``last_checkpoint`` pointer that ``--resume`` follows in place, and with
``max_keep_ckpts`` deletes the oldest checkpoint *before* writing the new
one. A crash (killed job, full disk, node failure) while saving can therefore
leave a truncated checkpoint that resume then picks, an empty pointer (resume
silently starts from scratch), or no good checkpoint at all.

:class:`AtomicCheckpointHook` is a drop-in ``CheckpointHook``: name it as
``default_hooks.checkpoint.type``. It writes every file to a temporary file in
the same folder, flushes it to disk and ``os.replace``-s it onto the final name
(atomic on POSIX file systems), updates ``last_checkpoint`` the same way, and
deletes outdated checkpoints only after the new one is in place. The atomic
writes go through :class:`AtomicLocalBackend`, an MMEngine file backend, so
they cover every file the hook saves (``best_*`` checkpoints too) without
repeating MMEngine's saving code.
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
    mkdir_or_exist(directory)
    tmp_path = osp.join(directory, f'.{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp')
    try:
        with open(tmp_path, 'xb') as f:
            _write_all(f, data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp_path)
        raise
    if fsync:
        _fsync_dir(directory)


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


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """A ``CheckpointHook`` whose files are complete or absent after a crash.

    Takes every argument of :class:`mmengine.hooks.CheckpointHook` and
    behaves the same, except that:

    - checkpoints are written to a temporary file in the same folder and
      renamed into place (:class:`AtomicLocalBackend`), so no file with a
      checkpoint's name is ever truncated;
    - ``work_dir/last_checkpoint``, which ``--resume`` follows, is replaced
      the same way, and only after the checkpoint it names is complete;
    - with ``max_keep_ckpts``, the outdated checkpoint is deleted after the new
      one is saved, not before, so a good checkpoint always exists.

    When ``backend_args`` or ``file_client_args`` are given, or ``out_dir``
    is a remote URI (``s3://...``), the given storage is used as is (object
    stores replace objects atomically anyway); the pointer file and the
    deletion order are still handled as above.

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

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        """Save the checkpoint of ``step``, then update the pointer, then
        delete the outdated checkpoint.

        Args:
            runner (Runner): The runner of the training process.
            step (int): The epoch or iteration that names the checkpoint.
            meta (dict): Meta information saved in the checkpoint.
        """
        outdated_step = None
        # The best-checkpoint logic may save the same step twice; count it once.
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated_step = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if not is_main_process():
            return
        atomic_write_bytes(
            self.last_ckpt.encode('utf-8'),
            osp.join(runner.work_dir, 'last_checkpoint'),
            fsync=self.fsync)
        if outdated_step is not None:
            outdated = self.file_backend.join_path(self.out_dir,
                                                   self.filename_tmpl.format(outdated_step))
            if outdated != self.last_ckpt:
                if self.file_backend.isfile(outdated):
                    self.file_backend.remove(outdated)
                elif self.file_backend.isdir(outdated):  # DeepSpeed saves folders
                    self.file_backend.rmtree(outdated)
