"""Save and stop cleanly when the cluster preempts the job (SIGTERM, SIGUSR1)."""
from __future__ import annotations

import signal
import time
from collections.abc import Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from .atomic_checkpoint_hook import save_iteration_checkpoint


class TrainingPreempted(RuntimeError):
    """Raised by :class:`PreemptionHook` after it saved; the message names the file.

    Attributes:
        checkpoint (str): The checkpoint written for the last finished iteration.
        signum (int): The signal that asked the run to stop.
    """

    def __init__(self, message: str, checkpoint: str, signum: int) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint
        self.signum = signum


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On SIGTERM or SIGUSR1: finish the iteration, save it, stop.

    Schedulers (Slurm, Kubernetes) preempt a job with SIGTERM and kill it a grace
    period later; Slurm's ``--signal=USR1@120`` warns before the time limit. The
    signal handler only records the signal. After the current iteration (and after
    every other hook of that iteration, ``CheckpointHook`` included: priority
    ``LOWEST``) the hook writes the checkpoint of that iteration, ``iter_N.pth``,
    atomically and points ``last_checkpoint`` at it (unless the regular checkpoint
    hook has just saved exactly that), then raises :class:`TrainingPreempted`
    naming it. ``--resume`` continues from it as from any mid-epoch checkpoint
    (exactly, with ``SeededSampler`` and ``ExactResumeHook``).

    Under distributed training every rank learns of a signal on any rank through a
    one-element all-reduce after each iteration, so all ranks stop after the same
    iteration. DataLoader workers forked after ``before_train`` inherit the handler,
    so a signal sent to the whole process group does not kill them mid-batch. The
    previous handlers are put back after training; if training ends with another
    exception they stay replaced until the process exits (the handler only records).

    Args:
        signals (Sequence[str]): Names of the signals to catch. Defaults to
            ``('SIGTERM', 'SIGUSR1')``.
    """

    priority = 'LOWEST'

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGUSR1')) -> None:
        self.signals = [getattr(signal, name) for name in signals]
        self._previous: dict[int, object] = {}
        self.received: int | None = None
        self.received_at: float | None = None

    def _handle(self, signum, frame) -> None:
        if self.received is None:
            self.received, self.received_at = signum, time.monotonic()

    def before_train(self, runner) -> None:
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def after_train(self, runner) -> None:
        self._restore()

    def _stop_requested(self) -> int:
        """The signal number any rank received (0 for none)."""
        signum = torch.tensor([self.received or 0], dtype=torch.int64)
        if get_world_size() > 1:
            all_reduce(signum, op='max')  # MMEngine moves it to the backend's device
        return int(signum.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        signum = self._stop_requested()
        if not signum:
            return
        iteration = runner.iter + 1
        path = runner.message_hub.get_info('last_ckpt')
        if not (path and str(path).endswith(f'iter_{iteration}.pth')):
            path = save_iteration_checkpoint(runner)
        self._restore()
        name = signal.Signals(signum).name
        waited = ('' if self.received_at is None else
                  f' {time.monotonic() - self.received_at:.1f} s after the signal')
        message = (f'{name} received: stopped after iteration {iteration} (epoch '
                   f'{runner.epoch + 1}) and saved it to {path}{waited}; last_checkpoint '
                   'names it. Continue with: python tools/train.py CONFIG --resume')
        runner.logger.warning(message)
        raise TrainingPreempted(message, str(path), signum)
