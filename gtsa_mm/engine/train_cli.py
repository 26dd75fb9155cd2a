"""The command line of ``tools/train.py``: an MMEngine Runner for any gtsa_mm config.

``tools/train.py`` stays a file (``mim train gtsa_mm`` runs ``gtsa_mm/.mim/tools/train.py``,
``tools/dist_train.sh`` and ``tools/slurm_train.sh`` start it per process); what it does is
here: :func:`parse_args`, :func:`build_config` (flags onto the config, gloo for CPU-only
multi-process runs) and :func:`main`.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

# Registers gtsa_mm's components and MMEngine's checkpoint types (torch >= 2.6).
import gtsa_mm  # noqa: F401
from gtsa_mm.registry import drop_collate_fn_scope
from gtsa_mm.stack_warnings import quiet_stack_deprecations

from .cpu_dist import init_cpu_process_group
from .hooks import (
    CheckpointWriteError,
    CorruptCheckpointError,
    NonFiniteLossError,
    TrainingPreempted,
)
from .optimizers import enable_amp


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a gtsa_mm / OpenMMLab model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CHECKPOINT, or from the latest checkpoint in '
                        'the work dir when no path is given')
    parser.add_argument('--amp', action='store_true', help='mixed precision (float16)')
    parser.add_argument('--amp-dtype', choices=['float16', 'bfloat16'],
                        help='mixed precision with this dtype (implies --amp)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch / auto_scale_lr.base_batch_size')
    parser.add_argument('--no-validate', action='store_true', help='skip validation')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_epochs=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args: argparse.Namespace) -> Config:
    """The config file of ``args`` with the command line's settings on it."""
    if not osp.isfile(args.config):
        sys.exit(f'tools/train.py: config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    drop_collate_fn_scope(cfg)  # a config inheriting 'gtsa_mm::...'
    cfg.launcher = args.launcher
    if args.launcher != 'none' and not torch.cuda.is_available():
        # NCCL needs GPUs; multi-process CPU runs (tests, laptops) use gloo.
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
        # MMEngine gives DDP device_ids=[LOCAL_RANK], which a CPU model rejects.
        cfg.setdefault('model_wrapper_cfg', dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False)))
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp or args.amp_dtype:
        enable_amp(cfg.optim_wrapper, args.amp_dtype)
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', dict(base_batch_size=256))
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            sys.exit(f'tools/train.py: --resume checkpoint not found: {args.resume}')
        cfg.resume, cfg.load_from = True, args.resume
    if args.no_validate:
        for key in ('val_dataloader', 'val_evaluator', 'val_cfg'):
            cfg[key] = None
    return cfg


def main(argv: list[str] | None = None) -> None:
    """Train as ``tools/train.py`` does: exit status 1 on a non-finite loss, 128 + signal
    after a preemption checkpoint, a message for unwritable or damaged checkpoints."""
    args = parse_args(argv)
    cfg = build_config(args)
    # Without GPUs MMEngine's init_dist fails (it pins a CUDA device first): start gloo
    # here (torchrun's env://, or Slurm's variables); the Runner uses that process group.
    init_cpu_process_group(cfg.launcher)
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    quiet_stack_deprecations(runner.logger)
    try:
        runner.train()
    except NonFiniteLossError as error:
        # The message says where, which terms, the last checkpoint and how to resume;
        # a traceback around it adds nothing.
        runner.logger.error(str(error))
        sys.exit(1)
    except TrainingPreempted as stop:  # saved; exit as if killed by that signal
        print(f'tools/train.py: {stop}', file=sys.stderr)
        sys.exit(128 + stop.signum)
    except (CorruptCheckpointError, CheckpointWriteError) as err:  # the message says what to do
        sys.exit(f'tools/train.py: {err}')
