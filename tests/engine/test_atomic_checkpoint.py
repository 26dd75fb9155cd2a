"""AtomicCheckpointHook: a crash while saving leaves the previous checkpoint usable."""
import hashlib
import os
import os.path as osp
import uuid

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner, find_latest_checkpoint
from torch import nn
from torch.utils.data import Dataset

import gtsa_mm  # noqa: F401  (lets torch.load(weights_only=True) read Runner checkpoints)
from gtsa_mm.engine.hooks import atomic_checkpoint_hook
from gtsa_mm.engine.hooks.atomic_checkpoint_hook import AtomicCheckpointHook, atomic_write_bytes


class ToyDataset(Dataset):

    def __len__(self):
        return 8  # 4 batches: enough iterations without the loader restarting (2 s sleep)

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2, ), float(idx + 1)))


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


class RecordStart(Hook):

    def __init__(self):
        self.start_iter = None

    def before_train(self, runner):
        self.start_iter = runner.iter


def make_runner(work_dir, max_iters, resume=False, hooks=()):
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=f'atomic_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2, num_workers=0, collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=AtomicCheckpointHook(
            interval=1, by_epoch=False, max_keep_ckpts=1)),
        custom_hooks=list(hooks),
        resume=resume,
        # The scope real configs use; a Runner makes its scope the current one
        # for later tests too, and 'mmengine' would hide MMPretrain's registries.
        default_scope='mmpretrain',
        log_level='WARNING')


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class Crash(Exception):
    pass


def crash_in_disk_write(monkeypatch, at_checkpoint):
    """Make the ``at_checkpoint``-th checkpoint write stop half-way."""
    real_write = atomic_checkpoint_hook._write_all
    count = dict(checkpoints=0)

    def half_then_crash(file, data):
        if len(data) > 1000:  # a checkpoint, not the last_checkpoint pointer
            count['checkpoints'] += 1
            if count['checkpoints'] == at_checkpoint:
                real_write(file, bytes(data)[:len(data) // 2])
                file.flush()
                raise Crash('killed while writing')
        real_write(file, data)

    monkeypatch.setattr(atomic_checkpoint_hook, '_write_all', half_then_crash)


def crash_in_torch_save(monkeypatch, at_checkpoint):
    """Make the ``at_checkpoint``-th ``torch.save`` write half its bytes and raise."""
    import io

    from mmengine.runner import checkpoint as mmengine_checkpoint
    real_save = torch.save
    count = dict(saves=0)

    def half_then_crash(obj, f, *args, **kwargs):
        count['saves'] += 1
        if count['saves'] != at_checkpoint:
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        f.write(buffer.getvalue()[:buffer.tell() // 2])
        raise Crash('killed while serializing')

    monkeypatch.setattr(mmengine_checkpoint.torch, 'save', half_then_crash)


@pytest.mark.parametrize('crash', [crash_in_disk_write, crash_in_torch_save])
def test_crash_while_saving_keeps_previous_checkpoint_and_resume_uses_it(
        tmp_path, monkeypatch, crash):
    work_dir = str(tmp_path)
    previous = {}

    class RememberIter2(Hook):
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 == 2:
                previous['sha'] = sha256(osp.join(work_dir, 'iter_2.pth'))
                previous['pointer'] = open(osp.join(work_dir, 'last_checkpoint')).read()

    crash(monkeypatch, at_checkpoint=3)
    with pytest.raises(Crash):
        make_runner(work_dir, max_iters=4, hooks=[RememberIter2()]).train()
    monkeypatch.undo()

    # max_keep_ckpts=1: MMEngine's own hook deletes iter_2.pth before writing iter_3.pth.
    assert sorted(n for n in os.listdir(work_dir) if n.endswith('.pth')) == ['iter_2.pth']
    assert not [n for n in os.listdir(work_dir) if 'tmp' in n or 'iter_3' in n]
    assert sha256(osp.join(work_dir, 'iter_2.pth')) == previous['sha']
    assert open(osp.join(work_dir, 'last_checkpoint')).read() == previous['pointer'] == osp.join(
        work_dir, 'iter_2.pth')

    assert find_latest_checkpoint(work_dir) == osp.join(work_dir, 'iter_2.pth')
    start = RecordStart()
    make_runner(work_dir, max_iters=4, resume=True, hooks=[start]).train()
    assert start.start_iter == 2  # resumed from iter_2.pth
    assert sorted(n for n in os.listdir(work_dir) if n.endswith('.pth')) == ['iter_4.pth']
    assert open(osp.join(work_dir, 'last_checkpoint')).read() == osp.join(work_dir, 'iter_4.pth')


def test_atomic_write_bytes(tmp_path, monkeypatch):
    target = tmp_path / 'sub' / 'file.bin'
    atomic_write_bytes(b'first version', target)
    assert target.read_bytes() == b'first version'
    atomic_write_bytes(b'second', target, fsync=False)
    assert target.read_bytes() == b'second'

    def half_then_crash(file, data):
        file.write(data[:len(data) // 2])
        raise OSError('No space left on device')

    monkeypatch.setattr(atomic_checkpoint_hook, '_write_all', half_then_crash)
    with pytest.raises(OSError, match='No space'):
        atomic_write_bytes(b'third version, never complete', target)
    assert target.read_bytes() == b'second'
    assert os.listdir(target.parent) == ['file.bin']


def test_default_backend_and_registration(tmp_path):
    from mmpretrain.registry import HOOKS
    assert HOOKS.get('AtomicCheckpointHook') is AtomicCheckpointHook
    assert AtomicCheckpointHook(interval=1).backend_args == dict(backend='atomic_local',
                                                                 fsync=True)
    assert AtomicCheckpointHook(interval=1, out_dir='s3://bucket/ckpts').backend_args is None
    given = dict(backend='local')
    assert AtomicCheckpointHook(interval=1, backend_args=given).backend_args == given
