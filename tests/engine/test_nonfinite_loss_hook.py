"""NonFiniteLossHook stops at the bad iteration and saves nothing for it."""
import hashlib
import os
import os.path as osp
import uuid
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import IterBasedTrainLoop, Runner
from torch import nn
from torch.utils.data import Dataset

from gtsa_mm.engine.hooks import NonFiniteLossError, NonFiniteLossHook


class ToyDataset(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2, ), float(idx + 1)))


class ToyModel(BaseModel):
    """Two loss terms; ``loss_patch`` turns NaN at training step ``nan_at``."""

    def __init__(self, nan_at: int | None = None):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.nan_at = nan_at
        self.steps = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode != 'loss':
            return out
        self.steps += 1
        loss_patch = out.abs().mean()
        if self.steps == self.nan_at:
            loss_patch = loss_patch * float('nan')
        return dict(loss_region=out.pow(2).mean(), loss_patch=loss_patch)


class RecordCheckpoints(Hook):
    """After each iteration, the sha256 of every checkpoint in work_dir."""
    priority = 'LOWEST'

    def __init__(self):
        self.seen = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.seen[runner.iter + 1] = checkpoint_hashes(runner.work_dir)


def checkpoint_hashes(work_dir):
    return {
        name: hashlib.sha256(open(osp.join(work_dir, name), 'rb').read()).hexdigest()
        for name in sorted(os.listdir(work_dir)) if name.endswith('.pth')
    }


def test_stops_at_the_nan_iteration_and_keeps_earlier_checkpoints(tmp_path):
    record = RecordCheckpoints()
    runner = Runner(
        model=ToyModel(nan_at=3),
        work_dir=str(tmp_path),
        experiment_name=f'nonfinite_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2, num_workers=0, collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=3),  # 2 iterations per epoch
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False)),
        custom_hooks=[NonFiniteLossHook(), record],
        # The scope real configs use; a Runner makes its scope the current one
        # for later tests too, and 'mmengine' would hide MMPretrain's registries.
        default_scope='mmpretrain',
        log_level='WARNING')

    with pytest.raises(NonFiniteLossError) as info:
        runner.train()

    message = str(info.value)
    assert 'iteration 3 (epoch 2, batch 1 of the epoch)' in message
    assert 'loss=nan' in message and 'loss_patch=nan' in message
    assert 'finite: loss_region=' in message
    last = osp.join(str(tmp_path), 'iter_2.pth')
    assert f'The last good checkpoint is untouched: {last}' in message
    assert ('python tools/train.py CONFIG --resume '
            '--cfg-options optim_wrapper.optimizer.lr=<lower>') in message
    assert '(configured lr 0.01; e.g. 0.005)' in message

    assert 3 not in record.seen  # no hook ran after the check
    assert checkpoint_hashes(str(tmp_path)) == record.seen[2]  # byte-identical, no iter_3
    assert sorted(record.seen[2]) == ['iter_1.pth', 'iter_2.pth']
    assert open(osp.join(str(tmp_path), 'last_checkpoint')).read() == last


def _fake_runner(tmp_path, lr=0.1):
    return SimpleNamespace(
        iter=41, epoch=0, work_dir=str(tmp_path),
        train_loop=IterBasedTrainLoop.__new__(IterBasedTrainLoop),
        cfg=SimpleNamespace(filename='configs/gtsa/x.py',
                            optim_wrapper=SimpleNamespace(
                                optimizer=SimpleNamespace(lr=lr))))


def test_inf_term_without_any_checkpoint(tmp_path):
    hook = NonFiniteLossHook()
    outputs = dict(loss=torch.tensor(float('inf')), loss_rotation=torch.tensor(float('inf')),
                   loss_region=torch.tensor(0.5))
    with pytest.raises(NonFiniteLossError) as info:
        hook.after_train_iter(_fake_runner(tmp_path), 0, outputs=outputs)
    message = str(info.value)
    assert message.startswith('Non-finite loss at iteration 42: loss=inf, loss_rotation=inf')
    assert 'epoch' not in message.split(':')[0]
    assert 'No checkpoint had been saved yet' in message
    assert 'python tools/train.py configs/gtsa/x.py --cfg-options' in message


def test_finite_losses_and_other_entries_pass(tmp_path):
    hook = NonFiniteLossHook()
    runner = _fake_runner(tmp_path)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.0), loss_patch=0.5,
                                                  grad_norm=torch.tensor(float('inf'))))
    hook.after_train_iter(runner, 0, outputs=None)
    with pytest.raises(NonFiniteLossError):
        NonFiniteLossHook(keys=['grad_norm']).after_train_iter(
            runner, 0, outputs=dict(grad_norm=torch.tensor(float('nan'))))


def test_registered():
    from mmpretrain.registry import HOOKS
    assert HOOKS.get('NonFiniteLossHook') is NonFiniteLossHook
    assert NonFiniteLossHook.priority == 'VERY_HIGH'
