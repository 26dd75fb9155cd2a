"""`tools/dist_train.sh CONFIG 2` on CPU (gloo): the ranks stay identical, and 2 processes
x batch b train like 1 process x batch 2b."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
import torch
from gtsa_test_utils import TOOL_TIMEOUT_S
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from pretrain_helpers import REPO, tiny_pretrain_cfg, write_images

import gtsa_mm  # noqa: F401

NUM_IMAGES, BATCH_PER_PROCESS, EPOCHS = 8, 2, 2  # 2 iterations per epoch, 4 in all


def state_digest(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@HOOKS.register_module(force=True)
class DumpRankStateHook(Hook):
    """After training, each rank saves its model state as ``rank<r>.pth``; rank 0 also
    writes every rank's sha256 of it, gathered with torch.distributed, to ``digests.json``."""

    priority = 'LOWEST'

    def after_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        torch.save(state, Path(runner.work_dir) / f'rank{runner.rank}.pth')
        digests = [state_digest(state)]
        if runner.world_size > 1:
            digests = [None] * runner.world_size
            torch.distributed.all_gather_object(digests, state_digest(state))
        if runner.rank == 0:
            (Path(runner.work_dir) / 'digests.json').write_text(json.dumps(digests))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def dist_cfg(work_dir: Path, data: Path, batch_size: int):
    cfg = tiny_pretrain_cfg(work_dir, data, max_epochs=EPOCHS, batch_size=batch_size)
    cfg.train_dataloader.update(num_workers=1, persistent_workers=True)
    cfg.randomness = dict(seed=0, diff_rank_seed=True)  # the shipped setting
    cfg.custom_imports = dict(imports=['gtsa_mm', 'test_distributed'],
                              allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='DumpRankStateHook')]
    return cfg


@pytest.mark.slow
def test_two_cpu_processes_match_each_other_and_one_process_with_double_batch(tmp_path):
    data = write_images(tmp_path / 'images', NUM_IMAGES)
    config = tmp_path / 'tiny_gtsa_2x2.py'
    dist_cfg(tmp_path / 'dist', data, BATCH_PER_PROCESS).dump(str(config))
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(free_port()),
               PYTHONPATH=os.pathsep.join([str(REPO / 'tests'), str(REPO / 'tests' / 'engine'),
                                           os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '2',
         '--work-dir', str(tmp_path / 'dist')],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # every rank holds the same student and teacher, bit for bit
    rank0 = torch.load(tmp_path / 'dist' / 'rank0.pth')
    rank1 = torch.load(tmp_path / 'dist' / 'rank1.pth')
    assert rank0['target_net.steps'].item() == EPOCHS * NUM_IMAGES // (2 * BATCH_PER_PROCESS)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    digests = json.loads((tmp_path / 'dist' / 'digests.json').read_text())
    assert len(digests) == 2 and digests[0] == digests[1] == state_digest(rank0)

    # one process, batch 2b, same data and augmentations (SeededSampler)
    from mmengine.runner import Runner
    single = dist_cfg(tmp_path / 'single', data, 2 * BATCH_PER_PROCESS)
    Runner.from_cfg(single).train()
    one = torch.load(tmp_path / 'single' / 'rank0.pth')
    assert one['target_net.steps'].item() == rank0['target_net.steps'].item()
    worst, worst_key_bias = {}, 0.
    for key in one:
        if not one[key].is_floating_point():
            assert torch.equal(one[key], rank0[key]), key
            continue
        a, b = rank0[key], one[key]
        if key.endswith('attn.qkv.bias'):
            # The key third of a qkv bias has zero exact gradient (softmax ignores a bias
            # shared by all keys): its gradient is round-off that AdamW turns into steps
            # of up to ~lr of either sign, whatever the batch split.
            q, k, v = a.chunk(3)
            q1, k1, v1 = b.chunk(3)
            worst_key_bias = max(worst_key_bias, (k - k1).abs().max().item())
            steps, lr = EPOCHS * NUM_IMAGES // (2 * BATCH_PER_PROCESS), 1e-3
            assert (k - k1).abs().max().item() < lr * steps, key
            a, b = torch.cat([q, v]), torch.cat([q1, v1])
        worst[key] = (a - b).abs().max().item()
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    print('max |2x2 - 1x4| per tensor, worst:', max(worst.values()),
          'attention key biases:', worst_key_bias)
