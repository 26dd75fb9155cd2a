"""Beyond one machine, on one machine: a 2-node torchrun run (two launches, NNODES=2,
NODE_RANK 0/1 on localhost) and tools/slurm_train.sh under a stand-in srun, on CPU (gloo).
In both the ranks end with identical weights."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch
from gtsa_test_utils import TOOL_TIMEOUT_S
from pretrain_helpers import REPO, write_images
from test_distributed import (
    BATCH_PER_PROCESS,
    EPOCHS,
    NUM_IMAGES,
    dist_cfg,
    free_port,
    state_digest,
)

FAKE_SRUN = r'''#!/usr/bin/env bash
# srun on one machine: records its arguments, then starts --ntasks copies of the command,
# each with the variables Slurm gives a task (one task per "node" here).
printf '%s\n' "$@" > "$SRUN_LOG"
ntasks=1
while [ $# -gt 0 ] && [[ $1 == -* ]]; do
    case $1 in --ntasks=*) ntasks=${1#--ntasks=} ;; esac
    shift
done
pids=()
for ((i = 0; i < ntasks; i++)); do
    SLURM_PROCID=$i SLURM_LOCALID=0 SLURM_NTASKS=$ntasks SLURM_NODELIST=127.0.0.1 "$@" &
    pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
exit $rc
'''
FAKE_SCONTROL = r'''#!/usr/bin/env bash
[ "$1 $2" = "show hostnames" ] && echo "$3" | tr ',' '\n'
'''


def launch_env(tmp_path: Path, **extra) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS='1', **extra)
    env.pop('MASTER_ADDR', None)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO / 'tests'), str(REPO / 'tests' / 'engine'),
                                         str(REPO), os.environ.get('PYTHONPATH', '')])
    return env


def write_config(tmp_path: Path) -> Path:
    data = write_images(tmp_path / 'images', NUM_IMAGES)
    config = tmp_path / 'tiny_gtsa_2x1.py'
    dist_cfg(tmp_path / 'work', data, BATCH_PER_PROCESS).dump(str(config))
    return config


def assert_ranks_identical(work_dir: Path) -> float:
    rank0 = torch.load(work_dir / 'rank0.pth')
    rank1 = torch.load(work_dir / 'rank1.pth')
    assert rank0['target_net.steps'].item() == EPOCHS * NUM_IMAGES // (2 * BATCH_PER_PROCESS)
    assert rank0.keys() == rank1.keys()
    worst = max((rank0[k].double() - rank1[k].double()).abs().max().item() for k in rank0)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    digests = json.loads((work_dir / 'digests.json').read_text())
    assert len(digests) == 2 and digests[0] == digests[1] == state_digest(rank0)
    return worst


@pytest.mark.slow
def test_two_nodes_of_one_process_each_through_torchrun(tmp_path):
    config = write_config(tmp_path)
    env = launch_env(tmp_path, NNODES='2', PORT=str(free_port()), MASTER_ADDR='127.0.0.1')
    start = time.perf_counter()
    nodes = [subprocess.Popen(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '1',
         '--work-dir', str(tmp_path / 'work')],
        cwd=REPO, env=dict(env, NODE_RANK=str(rank)), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=TOOL_TIMEOUT_S)[0] for node in nodes]
    wall = time.perf_counter() - start
    for rank, (node, out) in enumerate(zip(nodes, outputs)):
        assert node.returncode == 0, f'node {rank}:\n{out[-3000:]}'
    worst = assert_ranks_identical(tmp_path / 'work')
    print(f'2 nodes x 1 process: max |rank0 - rank1| = {worst}, wall {wall:.1f} s')


@pytest.mark.slow
def test_slurm_train_sh_under_a_stand_in_srun(tmp_path):
    config = write_config(tmp_path)
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    srun_log = tmp_path / 'srun_args.txt'
    env = launch_env(tmp_path, GPUS='2', GPUS_PER_NODE='1', CPUS_PER_TASK='1',
                   SRUN_ARGS='--time=5 --quiet', MASTER_PORT=str(free_port()),
                   SRUN_LOG=str(srun_log), PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    start = time.perf_counter()
    proc = subprocess.run(
        ['bash', str(REPO / 'tools' / 'slurm_train.sh'), 'cpu', 'gtsa_tiny', str(config),
         str(tmp_path / 'work')], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=TOOL_TIMEOUT_S)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    args = srun_log.read_text().splitlines()
    assert args[:9] == ['--partition=cpu', '--job-name=gtsa_tiny', '--gres=gpu:1',
                        '--ntasks=2', '--ntasks-per-node=1', '--cpus-per-task=1',
                        '--kill-on-bad-exit=1', '--time=5', '--quiet']
    assert args[-3:] == [str(config), f'--work-dir={tmp_path / "work"}', '--launcher=slurm']
    worst = assert_ranks_identical(tmp_path / 'work')
    print(f'slurm_train.sh, 2 tasks: max |rank0 - rank1| = {worst}, wall {wall:.1f} s')


def test_slurm_variables_become_torch_env(tmp_path, monkeypatch):
    from gtsa_mm.engine.cpu_dist import slurm_to_torch_env

    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'scontrol').write_text(FAKE_SCONTROL)
    (bin_dir / 'scontrol').chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    environ = dict(SLURM_PROCID='5', SLURM_NTASKS='8', SLURM_LOCALID='1',
                   SLURM_NODELIST='hostA,hostB')
    slurm_to_torch_env(environ)
    assert {k: environ[k] for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                                    'MASTER_PORT')} == dict(
        RANK='5', WORLD_SIZE='8', LOCAL_RANK='1', MASTER_ADDR='hostA', MASTER_PORT='29500')
    kept = dict(environ, MASTER_ADDR='10.0.0.1', MASTER_PORT='1234')
    slurm_to_torch_env(kept)
    assert (kept['MASTER_ADDR'], kept['MASTER_PORT']) == ('10.0.0.1', '1234')
    with pytest.raises(RuntimeError, match='SLURM_PROCID'):
        slurm_to_torch_env({})
