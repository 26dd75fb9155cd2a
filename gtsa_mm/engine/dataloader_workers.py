"""``persistent_workers`` only where there are workers, so ``num_workers=0`` works alone.

The shipped configs and the MMDetection, MMSegmentation and MMPretrain bases they inherit
keep DataLoader workers alive across epochs (``persistent_workers=True``). torch's
DataLoader refuses that without workers (``ValueError: persistent_workers option needs
num_workers > 0``), so ``--cfg-options train_dataloader.num_workers=0`` (loading in the
main process, e.g. to debug a pipeline) needed ``persistent_workers=False`` beside it.

MMEngine's Runner builds every DataLoader in ``Runner.build_dataloader`` (the train, val
and test loops call it), after any ``--cfg-options`` and in every ``tools/train.py``
(ours, MMDetection's, MMSegmentation's, MMPretrain's, ``mim train``). Importing
``gtsa_mm``, which every shipped config does through ``custom_imports``, wraps it so that
a dataloader config with ``num_workers=0`` (or none) is built with
``persistent_workers=False``; configs with workers are passed on unchanged. The configs
keep ``persistent_workers=True`` rather than setting False: torch restarts
non-persistent workers every epoch, and MMEngine's ``worker_init_fn`` seeds each
restarted worker the same way, so the augmentations of the epoch-based fine-tunes would
change.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

__all__ = ['without_idle_persistent_workers', 'patch_runner_dataloaders']

_PATCHED_FLAG = '_gtsa_mm_persistent_workers_fix'


def without_idle_persistent_workers(dataloader):
    """``dataloader`` (a config dict) with ``persistent_workers=False`` if it has no workers.

    Anything else (a built DataLoader, a config with workers or without
    ``persistent_workers``) is returned as it is.
    """
    if (isinstance(dataloader, Mapping) and dataloader.get('persistent_workers')
            and not dataloader.get('num_workers', 0)):
        return {**dataloader, 'persistent_workers': False}
    return dataloader


def _wrap(build_dataloader: Callable) -> Callable:

    @functools.wraps(build_dataloader)
    def wrapped(dataloader, *args, **kwargs):
        return build_dataloader(without_idle_persistent_workers(dataloader), *args, **kwargs)

    setattr(wrapped, _PATCHED_FLAG, True)
    return wrapped


def patch_runner_dataloaders() -> None:
    """Make MMEngine's ``Runner`` and ``FlexibleRunner`` build dataloaders through
    :func:`without_idle_persistent_workers` (idempotent; called by ``import gtsa_mm``)."""
    from mmengine.runner import FlexibleRunner, Runner

    for runner_cls in (Runner, FlexibleRunner):
        build = runner_cls.__dict__.get('build_dataloader')
        if isinstance(build, staticmethod) and not getattr(build.__func__, _PATCHED_FLAG,
                                                           False):
            runner_cls.build_dataloader = staticmethod(_wrap(build.__func__))
