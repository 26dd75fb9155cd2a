"""Preemption: a real SIGTERM / SIGUSR1 to tools/train.py saves the iteration it finished,
exits naming the checkpoint, and --resume then ends with the weights of a run never stopped."""
from __future__ import annotations

import os
import os.path as osp
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import torch
from gtsa_test_utils import TOOL_TIMEOUT_S, toy_linear_model
from mmengine.hooks import Hook
from mmengine.runner import Runner
from pretrain_helpers import REPO, tiny_pretrain_cfg, write_images

import gtsa_mm  # noqa: F401  (registers the hooks; weights-only checkpoint loading)
from gtsa_mm.engine.hooks import AtomicCheckpointHook, PreemptionHook, TrainingPreempted

NUM_IMAGES, BATCH, EPOCHS = 16, 2, 2  # 8 iterations per epoch, 16 in all
ITER_LINE = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/(\d+)\]')


def preemption_cfg(work_dir: Path, data: Path):
    """The shipped recipe, tiny, with what makes resuming hard: persistent workers, drop
    path, patch-loss warm-up ending mid-run; checkpoints only at epoch ends, so the one
    written on the signal is what the resume has to use."""
    cfg = tiny_pretrain_cfg(work_dir, data, max_epochs=EPOCHS, batch_size=BATCH,
                            head=dict(patch_loss=dict(
                                type='PatchCorrespondenceLoss', loss_weight=0.5, warmup_epochs=1)))
    cfg.model.backbone.drop_path_rate = 0.1
    cfg.train_dataloader.update(num_workers=2, persistent_workers=True)
    cfg.default_hooks.checkpoint.update(by_epoch=True, interval=1)
    assert any(h['type'] == 'PreemptionHook' for h in cfg.custom_hooks)
    cfg.log_level = 'INFO'  # the iteration lines tell the test how far training is
    return cfg


def train_command(config, work_dir, *extra):
    return [sys.executable, str(REPO / 'tools/train.py'), str(config), '--work-dir',
            str(work_dir), *extra]


def env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), os.environ.get('PYTHONPATH', '')]))


def run_until_signal(command, signum, after_iters: int):
    """Start ``command``, send ``signum`` once the log shows ``after_iters`` iterations;
    returns (process, output, iteration seen at the signal, seconds from signal to exit)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=REPO, env=env())
    lines, seen, state = [], threading.Event(), dict(iters=0)

    def read():
        for line in proc.stdout:
            lines.append(line)
            match = ITER_LINE.search(line)
            if match:
                epoch, it, per_epoch = map(int, match.groups())
                state['iters'] = (epoch - 1) * per_epoch + it
                if state['iters'] >= after_iters:
                    seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert seen.wait(timeout=TOOL_TIMEOUT_S), ''.join(lines[-40:])
    at_signal = state['iters']
    sent = time.monotonic()
    os.kill(proc.pid, signum)
    proc.wait(timeout=TOOL_TIMEOUT_S)
    exit_s = time.monotonic() - sent
    reader.join(timeout=10)
    return proc, ''.join(lines), at_signal, exit_s


def max_state_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() if a[k].numel() else 0.
               for k in a)


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory):
    """The config and its uninterrupted run (16 iterations) through tools/train.py."""
    root = tmp_path_factory.mktemp('preemption')
    data = write_images(root / 'images', NUM_IMAGES)
    config = root / 'tiny_gtsa.py'
    preemption_cfg(root / 'unused', data).dump(str(config))
    straight = subprocess.run(train_command(config, root / 'straight'), cwd=REPO,
                              env=env(), capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert straight.returncode == 0, straight.stdout[-3000:] + straight.stderr[-3000:]
    return config, root / 'straight'


@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1], ids=['SIGTERM', 'SIGUSR1'])
def test_signal_saves_the_iteration_and_resume_matches_the_straight_run(
        straight_run, tmp_path, signum):
    config, straight_dir = straight_run
    work = tmp_path / 'preempted'
    proc, output, at_signal, exit_s = run_until_signal(
        train_command(config, work), signum, after_iters=5)
    assert proc.returncode == 128 + signum, output[-3000:]
    match = re.search(r'stopped after iteration (\d+) .* saved it to (\S+iter_(\d+)\.pth)',
                      output)
    assert match, output[-3000:]
    stopped, path = int(match.group(1)), match.group(2)
    assert int(match.group(3)) == stopped and at_signal <= stopped < EPOCHS * 8
    assert signal.Signals(signum).name in output
    assert osp.isfile(path) and open(work / 'last_checkpoint').read() == path
    ckpt = torch.load(path, map_location='cpu')
    assert ckpt['meta']['iter'] == stopped
    assert ckpt['state_dict']['target_net.steps'].item() == stopped

    resumed = subprocess.run(train_command(config, work, '--resume'), cwd=REPO, env=env(),
                             capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    final_r = torch.load(work / f'epoch_{EPOCHS}.pth', map_location='cpu')
    final_s = torch.load(straight_dir / f'epoch_{EPOCHS}.pth', map_location='cpu')
    assert final_r['meta']['iter'] == final_s['meta']['iter'] == EPOCHS * 8
    diff = max_state_diff(final_r['state_dict'], final_s['state_dict'])
    saved_s = re.search(r'saved it to \S+ ([\d.]+) s after the signal', output).group(1)
    print(f'\n{signal.Signals(signum).name}: log at iteration {at_signal} when sent, stopped '
          f'after iteration {stopped}, checkpoint saved {saved_s} s and process exited '
          f'{exit_s:.2f} s after the signal; resumed to {EPOCHS * 8}: max |weight diff| vs '
          f'uninterrupted = {diff:g}')
    assert diff == 0.  # bit-identical, as the resume tests
    for idx, state in final_s['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(final_r['optimizer']['state'][idx][name], value), (idx, name)


# ------------------------------------------------------------------ in-process pieces
class SignalAt(Hook):
    """Sends ``signum`` to this process during iteration ``at`` (0-based)."""
    priority = 'HIGHEST'

    def __init__(self, at, signum):
        self.at, self.signum = at, signum

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter == self.at:
            os.kill(os.getpid(), self.signum)


def toy_runner(work_dir, interval):
    return Runner(
        model=toy_linear_model(), work_dir=str(work_dir),
        experiment_name=f'preempt_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=[dict(inputs=torch.full((2, ), float(i))) for i in range(8)],
            sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
            num_workers=0, collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=6),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=AtomicCheckpointHook(interval=interval, by_epoch=False)),
        custom_hooks=[PreemptionHook(), SignalAt(1, signal.SIGUSR1)],
        default_scope='mmpretrain', log_level='WARNING')


@pytest.mark.parametrize('interval', [100, 1], ids=['no-regular-save', 'regular-save-same-iter'])
def test_in_process_signal_stops_after_that_iteration(tmp_path, interval):
    before = signal.getsignal(signal.SIGUSR1)
    runner = toy_runner(tmp_path, interval)
    with pytest.raises(TrainingPreempted) as info:
        runner.train()
    path = osp.join(str(tmp_path), 'iter_2.pth')
    assert info.value.checkpoint == path and info.value.signum == signal.SIGUSR1
    assert f'saved it to {path}' in str(info.value) and 'SIGUSR1' in str(info.value)
    assert open(tmp_path / 'last_checkpoint').read() == path
    assert torch.load(path, map_location='cpu')['meta']['iter'] == 2
    assert not (tmp_path / 'iter_3.pth').exists()
    assert signal.getsignal(signal.SIGUSR1) is before  # handlers restored
