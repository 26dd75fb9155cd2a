"""Make ``--resume`` continue a run as if it had never stopped."""
from __future__ import annotations

import logging
import random

import numpy as np
import torch
from mmengine.hooks import DistSamplerSeedHook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import HOOKS

from .checkpoint_check import check_resume_settings


def iteration_seed(seed: int, iteration: int) -> int:
    """A 64-bit seed for ``iteration`` of a run seeded with ``seed``."""
    entropy = [int(seed) % 2**63, int(iteration)]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


@HOOKS.register_module()
class ExactResumeHook(DistSamplerSeedHook):
    """``DistSamplerSeedHook`` that also makes resumed runs continue exactly.

    MMEngine's Runner restores weights, optimizer, parameter schedulers, the
    message hub (epoch, iteration) and the seed, but not where the random
    streams were:

    - **Model randomness** (drop path, dropout) draws from torch's global
      generator, which a resumed run starts afresh. This hook reseeds torch,
      NumPy and ``random`` before every iteration from ``(runner.seed,
      iteration)``, so iteration ``i`` draws the same numbers in a straight and
      a resumed run (``runner.seed`` includes the rank when
      ``randomness.diff_rank_seed=True``).
    - **Mid-epoch checkpoints** (``CheckpointHook(by_epoch=False)``):
      ``EpochBasedTrainLoop`` restarts the epoch from its first batch. This
      hook tells a :class:`~gtsa_mm.datasets.SeededSampler` how many of this
      rank's samples the epoch has already used, so it continues with the
      next batch. With another sampler it logs a warning instead.
    - **The sampler's seed**, which orders the data and seeds the
      augmentations, is saved in the checkpoint (``meta.sampler_seed``) and
      restored, so resuming a run with ``randomness.seed=None`` keeps its
      order.

    - **A damaged checkpoint** (cut short, a failed CRC) or an empty
      ``last_checkpoint`` stops ``--resume`` before anything is loaded, with the
      file's name and the newest complete checkpoint beside it. The hook reads
      ``resume`` and ``load_from`` from ``runner.cfg``, which every Runner built
      with ``Runner.from_cfg`` (``tools/train.py``, ``mim train``) carries.

    Like ``DistSamplerSeedHook``, it sets the sampler's epoch before each
    epoch; use it in its place: ``default_hooks.sampler_seed``.
    """

    def __init__(self) -> None:
        self._loaded_sampler_seed: int | None = None

    @staticmethod
    def _sampler(runner):
        loader = runner.train_loop.dataloader
        sampler = getattr(loader, 'sampler', None)
        if sampler is None or not hasattr(sampler, 'set_epoch'):
            sampler = getattr(getattr(loader, 'batch_sampler', None), 'sampler', None)
        return sampler

    def before_run(self, runner) -> None:
        """Check the checkpoint ``--resume`` is about to load (before it is loaded)."""
        check_resume_settings(runner.cfg.get('resume', False), runner.cfg.get('load_from'),
                              runner.work_dir)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        sampler = self._sampler(runner)
        if sampler is not None and getattr(sampler, 'seed', None) is not None:
            checkpoint.setdefault('meta', {})['sampler_seed'] = int(sampler.seed)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Only remembered here: the train loop may not be built (val/test runs).
        self._loaded_sampler_seed = checkpoint.get('meta', {}).get('sampler_seed')

    def before_train(self, runner) -> None:
        if runner.iter == 0:  # a fresh start, or weights loaded with load_from
            return
        sampler = self._sampler(runner)
        if self._loaded_sampler_seed is not None and hasattr(sampler, 'seed'):
            sampler.seed = self._loaded_sampler_seed
        loop = runner.train_loop
        if not isinstance(loop, EpochBasedTrainLoop):
            return  # IterBasedTrainLoop skips the trained batches itself
        loader = loop.dataloader
        done = runner.iter - runner.epoch * len(loader)
        if done <= 0:
            return
        if hasattr(sampler, 'skip_first'):
            batch_size = getattr(loader.batch_sampler, 'batch_size', None) or loader.batch_size
            sampler.skip_first(done * batch_size, epoch=runner.epoch)
        else:
            print_log(
                f'Resumed at iteration {runner.iter}, {done} batches into epoch '
                f'{runner.epoch + 1}: {type(sampler).__name__} cannot skip them, so the '
                'epoch restarts from its first batch (MMEngine behaviour). Use '
                "sampler=dict(type='SeededSampler') to continue exactly.",
                logger='current', level=logging.WARNING)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed = iteration_seed(runner.seed, runner.iter)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
