"""AtomicCheckpointHook: a crash while saving leaves the previous checkpoint usable; unwritable
folders and damaged --resume checkpoints stop the run with a message naming the files."""
import errno
import hashlib
import os
import os.path as osp
import uuid

import pytest
import torch
from gtsa_test_utils import toy_linear_model
from mmengine.hooks import Hook
from mmengine.runner import Runner, find_latest_checkpoint
from torch.utils.data import Dataset

import gtsa_mm  # noqa: F401  (lets torch.load(weights_only=True) read Runner checkpoints)
from gtsa_mm.engine.hooks import ExactResumeHook, atomic_checkpoint_hook
from gtsa_mm.engine.hooks.atomic_checkpoint_hook import (
    AtomicCheckpointHook,
    CheckpointWriteError,
    atomic_write_bytes,
)
from gtsa_mm.engine.hooks.checkpoint_check import (
    CorruptCheckpointError,
    check_resume_checkpoint,
    checkpoint_problem,
)


class ToyDataset(Dataset):

    def __len__(self):
        return 8  # 4 batches: enough iterations without the loader restarting (2 s sleep)

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2, ), float(idx + 1)))


class RecordStart(Hook):

    def __init__(self):
        self.start_iter = None

    def before_train(self, runner):
        self.start_iter = runner.iter


def make_runner(work_dir, max_iters, resume=False, load_from=None, hooks=(), **hook_args):
    return Runner(
        model=toy_linear_model(),
        work_dir=work_dir,
        experiment_name=f'atomic_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2, num_workers=0, collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            checkpoint=AtomicCheckpointHook(
                **dict(dict(interval=1, by_epoch=False, max_keep_ckpts=1), **hook_args)),
            sampler_seed=ExactResumeHook()),
        custom_hooks=list(hooks),
        resume=resume,
        load_from=load_from,
        # what Runner.from_cfg (tools/train.py) keeps in runner.cfg, where hooks read it
        cfg=dict(resume=resume, load_from=load_from),
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


# ------------------------------------------------- unwritable folders, damaged checkpoints
def fail_open(monkeypatch, error):
    def refuse(path):
        raise error
    monkeypatch.setattr(atomic_checkpoint_hook, '_open_new', refuse)


@pytest.mark.parametrize('error', [OSError(errno.EROFS, 'Read-only file system'),
                                   PermissionError(errno.EACCES, 'Permission denied')],
                         ids=['read-only', 'permission'])
def test_unwritable_checkpoint_folder_stops_before_training(tmp_path, monkeypatch, error):
    # (as root, chmod cannot make a folder unwritable: the failure is simulated)
    work_dir = str(tmp_path)
    start = RecordStart()
    runner = make_runner(work_dir, max_iters=3, hooks=[start])
    fail_open(monkeypatch, error)
    with pytest.raises(CheckpointWriteError, match='cannot be written to') as info:
        runner.train()
    assert work_dir in str(info.value) and 'Training did not start' in str(info.value)
    assert info.value.errno == error.errno
    assert start.start_iter == 0 and runner.iter == 0  # no iteration was spent
    assert not [n for n in os.listdir(work_dir) if n.endswith(('.pth', '.tmp'))]


def test_full_disk_at_a_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    work_dir = str(tmp_path)
    real_write = atomic_checkpoint_hook._write_all
    saves = dict(count=0)

    def disk_full_at_second(file, data):
        if len(data) > 1000:
            saves['count'] += 1
            if saves['count'] == 2:
                real_write(file, bytes(data)[:len(data) // 3])
                raise OSError(errno.ENOSPC, 'No space left on device')
        real_write(file, data)

    monkeypatch.setattr(atomic_checkpoint_hook, '_write_all', disk_full_at_second)
    runner = make_runner(work_dir, max_iters=4)
    with pytest.raises(CheckpointWriteError) as info:
        runner.train()
    message = str(info.value)
    first = osp.join(work_dir, 'iter_1.pth')
    assert osp.join(work_dir, 'iter_2.pth') in message and 'No space left' in message
    assert f"previous checkpoint is untouched: '{first}'" in message
    assert info.value.errno == errno.ENOSPC
    assert sorted(os.listdir(work_dir)) == sorted(
        n for n in os.listdir(work_dir) if not n.endswith('.tmp'))
    assert [n for n in os.listdir(work_dir) if n.endswith('.pth')] == ['iter_1.pth']
    assert open(osp.join(work_dir, 'last_checkpoint')).read() == first
    monkeypatch.undo()
    assert checkpoint_problem(first) is None
    torch.load(first, map_location='cpu')


def damage(path, how):
    data = open(path, 'rb').read()
    if how == 'truncated':
        data = data[:len(data) // 2]
    elif how == 'bytes-flipped':  # inside the data, the zip directory intact
        middle = len(data) // 2
        data = data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + \
            data[middle + 64:]
    else:
        data = b''
    with open(path, 'wb') as f:
        f.write(data)


@pytest.mark.parametrize('how', ['truncated', 'bytes-flipped', 'empty'])
@pytest.mark.parametrize('explicit', [False, True], ids=['auto', 'given-path'])
def test_resume_from_a_damaged_checkpoint_names_it_and_the_good_one(tmp_path, how, explicit):
    work_dir = str(tmp_path)
    runner = make_runner(work_dir, max_iters=3)
    runner._hooks[[type(h) for h in runner._hooks].index(AtomicCheckpointHook)] \
        .max_keep_ckpts = -1
    runner.train()
    last, good = osp.join(work_dir, 'iter_3.pth'), osp.join(work_dir, 'iter_2.pth')
    os.utime(good, (1, 1e9))  # iter_1 older still
    os.utime(osp.join(work_dir, 'iter_1.pth'), (1, 1e8))
    damage(last, how)
    before = sha256(last)
    assert checkpoint_problem(last) is not None and checkpoint_problem(good) is None
    resumed = make_runner(work_dir, max_iters=5, resume=True,
                          load_from=last if explicit else None)
    with pytest.raises(CorruptCheckpointError) as info:
        resumed.train()
    message = str(info.value)
    assert f"Cannot resume from checkpoint '{last}'" in message
    assert f'--resume {good}' in message
    assert ('last_checkpoint' in message) is not explicit
    assert resumed.iter == 0 and sha256(last) == before  # nothing loaded, nothing changed


def test_check_resume_checkpoint_without_a_good_one(tmp_path):
    bad = tmp_path / 'iter_5.pth'
    bad.write_bytes(b'PK\x03\x04 not really a zip')
    with pytest.raises(CorruptCheckpointError, match='No complete checkpoint'):
        check_resume_checkpoint(str(bad))
    legacy = tmp_path / 'legacy.pth'  # torch's pre-zip format still loads
    torch.save({'w': torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    assert checkpoint_problem(str(legacy)) is None


def test_resume_with_an_empty_pointer_names_the_newest_complete_checkpoint(tmp_path):
    work_dir = str(tmp_path)
    make_runner(work_dir, max_iters=2).train()
    pointer = osp.join(work_dir, 'last_checkpoint')
    open(pointer, 'w').close()  # a save killed inside MMEngine's in-place pointer write
    resumed = make_runner(work_dir, max_iters=4, resume=True)
    with pytest.raises(CorruptCheckpointError) as info:
        resumed.train()
    message = str(info.value)
    assert f"'{pointer}' is empty" in message
    assert f"--resume {osp.join(work_dir, 'iter_2.pth')}" in message
    assert resumed.iter == 0


class ScoreByIteration(Hook):
    """Validation metrics that improve at iterations 2 and 4 and worsen at 3."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        score = {1: 0.1, 2: 0.5, 3: 0.2, 4: 0.9}[runner.iter + 1]
        for hook in runner.hooks:  # a validation, as seen by the checkpoint hook
            if isinstance(hook, AtomicCheckpointHook):
                hook.after_val_epoch(runner, metrics={'acc': score})


def test_a_new_best_replaces_the_old_one_only_after_it_is_saved(tmp_path, monkeypatch):
    work_dir = str(tmp_path)
    real_write = atomic_checkpoint_hook._write_all
    writes = []

    def record(file, data):
        writes.append((file.name, sorted(os.listdir(work_dir))))
        real_write(file, data)

    monkeypatch.setattr(atomic_checkpoint_hook, '_write_all', record)
    make_runner(work_dir, max_iters=4, hooks=[ScoreByIteration()], save_best='acc',
                rule='greater').train()
    # MMEngine names a best checkpoint by runner.iter: the 2nd and 4th iterations' are
    # best_acc_iter_1 and best_acc_iter_3; each new one is written beside the old one
    for new, old in (('best_acc_iter_1', 'best_acc_iter_0'),
                     ('best_acc_iter_3', 'best_acc_iter_1')):
        listing = next(listing for name, listing in writes if new in name)
        assert f'{old}.pth' in listing, (new, listing)
    names = sorted(n for n in os.listdir(work_dir) if n.endswith('.pth'))
    assert names == ['best_acc_iter_3.pth', 'iter_4.pth']
    assert open(osp.join(work_dir, 'last_checkpoint')).read() == osp.join(work_dir,
                                                                          'iter_4.pth')


def test_deferred_removals_keep_current_files_and_drop_on_discard(tmp_path):
    from mmengine.fileio import LocalBackend

    from gtsa_mm.engine.hooks.atomic_checkpoint_hook import DeferredRemovals
    old, current, kept = (tmp_path / n for n in ('old.pth', 'current.pth', 'kept.pth'))
    for path in (old, current, kept):
        path.write_bytes(b'x')
    backend = DeferredRemovals(LocalBackend())
    backend.remove(str(kept))
    backend.discard()
    backend.remove(str(old))
    backend.remove(str(current))
    assert old.exists() and current.exists()  # nothing happens before flush
    assert backend.join_path(str(tmp_path), 'a') == str(tmp_path / 'a')  # the rest delegates
    backend.flush(keep={str(current)})
    assert not old.exists() and current.exists() and kept.exists()
    assert backend.pending == []
    import copy
    assert copy.deepcopy(backend).join_path('a', 'b') == backend.join_path('a', 'b')


def test_the_hook_overrides_only_public_methods_of_checkpoint_hook():
    from mmengine.hooks import CheckpointHook
    overridden = [name for name in vars(AtomicCheckpointHook)
                  if callable(getattr(CheckpointHook, name, None)) and name != '__init__']
    assert overridden and all(not name.startswith('_') for name in overridden), overridden
