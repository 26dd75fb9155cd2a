"""Multi-process training on machines without GPUs, under torchrun or Slurm.

MMEngine's ``init_dist`` pins a CUDA device before it starts the process group
(``torch.cuda.set_device``; under Slurm it also divides by the GPU count when
``SLURM_LOCALID`` is unset), which fails on CPU-only nodes. ``tools/train.py``
calls :func:`init_cpu_process_group` instead when no GPU is visible; the Runner
then finds the process group started and uses it. On GPU nodes MMEngine's own
path runs unchanged.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import MutableMapping

import torch
import torch.distributed as dist

LAUNCHERS = ('pytorch', 'slurm')


def first_slurm_host(node_list: str) -> str:
    """The first host of a Slurm node list (``node[01-04]`` -> ``node01``), via scontrol."""
    scontrol = shutil.which('scontrol')
    if scontrol is None:
        raise RuntimeError(
            f'--launcher slurm: cannot find the master address: MASTER_ADDR is not set and '
            f'scontrol (to expand SLURM_NODELIST={node_list!r}) is not on PATH')
    hosts = subprocess.run([scontrol, 'show', 'hostnames', node_list], check=True,
                           capture_output=True, text=True).stdout.split()
    if not hosts:
        raise RuntimeError(f'--launcher slurm: scontrol listed no host in {node_list!r}')
    return hosts[0]


def slurm_to_torch_env(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set torch's ``env://`` variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
    MASTER_PORT) from Slurm's, as MMEngine's ``_init_dist_slurm`` does; MASTER_ADDR and
    MASTER_PORT are kept when already set (default port 29500)."""
    missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST') if k not in environ]
    if missing:
        raise RuntimeError(f'--launcher slurm outside a Slurm job step: {", ".join(missing)} '
                           'not set (launch with srun, e.g. tools/slurm_train.sh)')
    environ['RANK'] = environ['SLURM_PROCID']
    environ['WORLD_SIZE'] = environ['SLURM_NTASKS']
    environ['LOCAL_RANK'] = environ.get('SLURM_LOCALID', '0')
    environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in environ:
        environ['MASTER_ADDR'] = first_slurm_host(environ['SLURM_NODELIST'])


def init_cpu_process_group(launcher: str) -> bool:
    """Start a gloo process group for ``launcher`` when no GPU is visible.

    Args:
        launcher (str): ``tools/train.py``'s ``--launcher``.

    Returns:
        bool: Whether a process group was started here (False with GPUs, for
        ``none``/``mpi``, or when one is already running).
    """
    if launcher not in LAUNCHERS or torch.cuda.is_available() or dist.is_initialized():
        return False
    if launcher == 'slurm':
        slurm_to_torch_env()
    dist.init_process_group(backend='gloo')  # env:// from torchrun or slurm_to_torch_env
    return True
