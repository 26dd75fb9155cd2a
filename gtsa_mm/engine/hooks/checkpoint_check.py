"""Is a checkpoint file complete? Checked before ``--resume`` loads it.

MMEngine checkpoints are ``torch.save`` zip archives. A file cut short (a job killed
while writing, a copy that stopped, a full disk) has no zip directory at its end; one
damaged inside fails a member's CRC. Both are found by reading the archive, without
unpickling it, so checking costs about one read of the file.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import re
import zipfile

from .atomic_checkpoint_hook import pointer_path, read_pointer


class CorruptCheckpointError(RuntimeError):
    """A checkpoint that ``--resume`` would load is incomplete or damaged."""


def checkpoint_problem(path: str) -> str | None:
    """Why ``path`` cannot be a complete checkpoint, or None if it reads whole."""
    if not osp.isfile(path):
        return 'the file does not exist'
    size = osp.getsize(path)
    if size == 0:
        return 'the file is empty (0 bytes)'
    if not zipfile.is_zipfile(path):
        # torch's legacy (non-zip) format is still loadable: try it
        import torch
        try:
            torch.load(path, map_location='cpu', weights_only=True)
        except Exception as err:  # noqa: BLE001  any failure means unusable
            return (f'not a complete torch checkpoint ({size} bytes; no zip directory, '
                    f'{type(err).__name__}: {err})'.splitlines()[0])
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        return f'the zip archive is damaged ({size} bytes; {err})'
    return None if bad is None else f'member {bad!r} fails its CRC check ({size} bytes)'


def checkpoint_step(path: str) -> int:
    """The number in ``epoch_3.pth`` / ``iter_1200.pth``; -1 for other names."""
    match = re.search(r'(\d+)\.pth$', osp.basename(path))
    return int(match.group(1)) if match else -1


def newest_good_checkpoint(folder: str, exclude: str | None = None) -> str | None:
    """The newest complete ``*.pth`` in ``folder`` (by modification time) other than
    ``exclude``; None if there is none."""
    candidates = [p for p in glob.glob(osp.join(folder, '*.pth'))
                  if exclude is None or osp.abspath(p) != osp.abspath(exclude)]
    candidates.sort(key=lambda p: (os.stat(p).st_mtime, checkpoint_step(p)), reverse=True)
    for path in candidates:
        if checkpoint_problem(path) is None:
            return path
    return None


def check_resume_checkpoint(path: str, pointer: str | None = None) -> None:
    """Raise :class:`CorruptCheckpointError` naming ``path`` and the newest good
    checkpoint beside it if ``path`` is incomplete or damaged.

    Args:
        path (str): The checkpoint ``--resume`` would load.
        pointer (str, optional): The ``last_checkpoint`` file that named it.
    """
    problem = checkpoint_problem(path)
    if problem is None:
        return
    named = f" (named in '{pointer}')" if pointer else ''
    good = newest_good_checkpoint(osp.dirname(osp.abspath(path)), exclude=path)
    if good is None:
        advice = ('No complete checkpoint was found beside it; start without --resume or '
                  'give one with --resume PATH.')
    else:
        advice = (f"The newest complete checkpoint there is '{good}': continue from it with "
                  f'--resume {good}')
    raise CorruptCheckpointError(
        f"Cannot resume from checkpoint '{path}'{named}: {problem}. Nothing was loaded or "
        f'changed. {advice}')


def check_resume_settings(resume: bool, load_from: str | None, work_dir: str) -> None:
    """Refuse, before anything is loaded, the checkpoint a Runner's resume would load
    if it is incomplete or damaged, or if ``last_checkpoint`` is empty.

    Args:
        resume (bool): The Runner's ``resume`` setting (``--resume``).
        load_from (str, optional): ``--resume PATH``; None resumes from the
            checkpoint ``work_dir/last_checkpoint`` names.
        work_dir (str): The Runner's work dir.
    """
    if not resume:
        return
    if load_from is not None:
        if '://' not in str(load_from):
            check_resume_checkpoint(str(load_from))
        return
    pointer = pointer_path(work_dir)
    if not osp.isfile(pointer):
        return  # MMEngine starts from scratch and says so
    path = read_pointer(work_dir)
    if path is None:  # the file exists but names nothing
        good = newest_good_checkpoint(work_dir)
        advice = (f"The newest complete checkpoint there is '{good}': continue from it with "
                  f'--resume {good}' if good else
                  'No complete checkpoint was found there; start without --resume.')
        raise CorruptCheckpointError(
            f"Cannot resume: '{pointer}' is empty (a save was interrupted while writing it). "
            f'Nothing was loaded or changed. {advice}')
    if '://' not in path:
        check_resume_checkpoint(path, pointer)
