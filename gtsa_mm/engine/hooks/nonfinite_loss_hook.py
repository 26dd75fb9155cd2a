"""Stop training at the first NaN or infinite loss, before anything is saved."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import HOOKS

from .atomic_checkpoint_hook import pointer_path, read_pointer


class NonFiniteLossError(FloatingPointError):
    """Raised by :class:`NonFiniteLossHook`; the message says how to resume."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training when a logged loss term is NaN or infinite.

    After every training iteration the loss terms of the train step's outputs
    (``loss``, ``loss_region``, ``loss_patch``, ...) are checked. If any is
    not finite, a :class:`NonFiniteLossError` is raised that names the
    iteration (and epoch), the loss terms and their values, the last good
    checkpoint (from ``work_dir/last_checkpoint``) and the command to resume
    from it with a lower learning rate.

    The optimizer step of the bad iteration has already changed the weights
    in memory, so those weights must never reach disk. The hook has
    ``VERY_HIGH`` priority: it runs before ``CheckpointHook`` (``VERY_LOW``)
    and any other hook that writes files in ``after_train_iter``, and the
    exception ends the run before ``after_train_epoch``, so no checkpoint is
    written for the bad iteration and the earlier ones stay untouched.

    Under distributed training the finding is shared by an all-reduce, so
    every rank stops at the same iteration instead of waiting forever for the
    one that stopped.

    Args:
        keys (Sequence[str], optional): The output entries to check. Defaults
            to None: every entry whose name contains ``'loss'`` (the entries
            MMEngine sums into the total loss, and the total itself). Entries
            such as ``grad_norm`` are left out because an infinite gradient
            norm is routine under fp16 loss scaling.
    """

    priority = 'VERY_HIGH'

    def __init__(self, keys: Sequence[str] | None = None) -> None:
        self.keys = None if keys is None else tuple(keys)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: dict | tuple | list | None = None,
                         outputs: dict | None = None) -> None:
        """Raise :class:`NonFiniteLossError` if a checked loss is not finite.

        Args:
            runner (Runner): The runner of the training process.
            batch_idx (int): The index of the batch in the epoch.
            data_batch (dict | tuple | list, optional): The batch.
            outputs (dict, optional): The log variables of the train step.
        """
        if not outputs:
            return
        names = [name for name in outputs if self._is_checked(name)]
        if not names:
            return
        device = next((value.device for value in outputs.values()
                       if isinstance(value, torch.Tensor)), torch.device('cpu'))
        values = torch.stack([
            torch.as_tensor(outputs[name], device=device).detach().float().mean()
            for name in names
        ])
        any_bad = (~torch.isfinite(values)).any().to(torch.int32).reshape(1)
        if get_world_size() > 1:
            all_reduce(any_bad, op='max')
        if not bool(any_bad.item()):  # the one host sync, as the logger does anyway
            return
        values = values.cpu()
        bad_here = ~torch.isfinite(values)
        bad = {name: float(v) for name, v, b in zip(names, values, bad_here, strict=True) if b}
        good = {name: float(v) for name, v, b in zip(names, values, bad_here, strict=True) if not b}
        raise NonFiniteLossError(self._message(runner, batch_idx, bad, good))

    def _is_checked(self, name: str) -> bool:
        return name in self.keys if self.keys is not None else 'loss' in name

    @staticmethod
    def _message(runner, batch_idx: int, bad: dict[str, float], good: dict[str, float]) -> str:
        where = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1}, batch {batch_idx + 1} of the epoch)'
        if bad:
            terms = ', '.join(f'{name}={value}' for name, value in bad.items())
        else:  # another rank saw the bad value
            terms = 'a loss on another rank'
        finite = ', '.join(f'{name}={value:.4g}' for name, value in good.items())

        pointer = pointer_path(runner.work_dir)
        last_ckpt = read_pointer(runner.work_dir)
        if last_ckpt:
            checkpoint = (f'The last good checkpoint is untouched: {last_ckpt} (named in '
                          f'{pointer}); nothing was saved for this iteration.')
            resume = '--resume '
        else:
            checkpoint = (f'No checkpoint had been saved yet in {runner.work_dir}; '
                          'nothing was saved for this iteration.')
            resume = ''

        config = getattr(runner.cfg, 'filename', None) or 'CONFIG'
        lr = _configured_lr(runner)
        lr_hint = f' (configured lr {lr:g}; e.g. {lr / 2:g})' if lr is not None else ''
        return (
            f'Non-finite loss at {where}: {terms}'
            + (f' (finite: {finite})' if finite else '') + '. Training stopped. '
            + checkpoint
            + ' To continue from there with a lower learning rate'
            + f'{lr_hint}: python tools/train.py {config} {resume}'
            + '--cfg-options optim_wrapper.optimizer.lr=<lower>')


def _configured_lr(runner) -> float | None:
    """The base learning rate: from the config, else from the optimizer."""
    try:
        return float(runner.cfg.optim_wrapper.optimizer.lr)
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    try:
        group = runner.optim_wrapper.optimizer.param_groups[0]
        return float(group.get('initial_lr', group['lr']))  # initial_lr: before schedulers
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
