"""GTSA's training step and its bare network, measured for ``tools/benchmark.py``.

Models at the paper's and the tests' sizes (:data:`ARCHS`), synthetic batches through the
real crops, the paper's optimiser from its schedule config, step timers (plain or inside
MMEngine's DDP wrapper, as the Runner runs it), and the FLOPs and host syncs of one step.
"""
from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import numpy as np
import torch

from gtsa_mm.datasets.transforms import GTSA_GEOMETRY_KEYS
from gtsa_mm.engine.optimizers import disable_amp, enable_amp
from gtsa_mm.host_sync import HostSyncRecorder

from .flops import count_flops

REPO = Path(__file__).resolve().parents[2]
PAPER_SCHEDULE = REPO / 'configs/_base_/schedules/gtsa_adamw-coslr-100e.py'
#: Global views of the benchmark's crops (the paper's).
NUM_GLOBAL = 2

ARCHS = {
    # the paper: ViT-S/16 on 2 x 224 + 8 x 96 crops
    'vit-small': dict(arch='deit-small', embed=384, proj=768, patch=16, global_size=224,
                      local_size=96, region_sizes=(10, 4)),
    # the test suite's tiny model (smoke runs)
    'tiny': dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
                 embed=32, proj=48, patch=8, global_size=64, local_size=32,
                 region_sizes=(6, 3)),
}


def build_model(spec: dict, num_local: int, device: str, cuda_graphs: bool = False,
                drop_path_rate: float = 0.1, compile_layers: bool = False):
    from mmpretrain.registry import MODELS
    cfg = dict(
        type='GTSA',
        data_preprocessor=dict(type='MultiViewDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True),
        backbone=dict(type='VisionTransformer', arch=spec['arch'], img_size=spec['global_size'],
                      patch_size=spec['patch'], drop_path_rate=drop_path_rate,
                      out_type='featmap'),
        neck=dict(type='GTSAProjector', in_channels=spec['embed'], out_channels=spec['proj']),
        head=dict(type='GTSAHead',
                  predictor=dict(type='GTSAPredictor', in_channels=spec['proj'],
                                 hidden_channels=spec['proj'], out_channels=spec['proj']),
                  rotation_head=dict(type='RotationHead', in_channels=spec['embed']),
                  patch_loss=dict(type='PatchCorrespondenceLoss', loss_weight=0.5),
                  region_sizes=spec['region_sizes']),
        cuda_graphs=cuda_graphs, compile_layers=compile_layers)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.to(device).train()


def make_batches(spec: dict, batch_size: int, num_local: int, count: int = 2) -> list:
    from mmengine.dataset import default_collate
    from mmpretrain.registry import TRANSFORMS
    crop = TRANSFORMS.build(dict(type='GTSAMultiCrop', global_size=spec['global_size'],
                                 local_size=spec['local_size'], num_global=NUM_GLOBAL,
                                 num_local=num_local, seed=0))
    pack = TRANSFORMS.build(dict(type='PackInputs', algorithm_keys=GTSA_GEOMETRY_KEYS))
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(count):
        samples = [pack(crop(dict(img=rng.integers(0, 256, (480, 640, 3), np.uint8))))
                   for _ in range(batch_size)]
        batches.append(default_collate(samples))
    return batches


def step_flops(model, batch, amp: str, device: str) -> int:
    """FLOPs of one GTSA forward + backward on ``batch`` (optimizer not counted)."""
    dtype = {'none': None, 'float16': torch.float16, 'bfloat16': torch.bfloat16}[amp]

    def step():
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            data = model.data_preprocessor(copy.copy(batch), training=True)
            losses = model.loss(data['inputs'], data['data_samples'])
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()

    flops = count_flops(step)
    model.zero_grad(set_to_none=True)
    return flops


def network_loss(model, inputs: list) -> torch.Tensor:
    """The same passes on the same crops (CUDA graphs too, when on), loss = mean of outputs."""
    g = NUM_GLOBAL
    global_views = torch.cat(inputs[:g])
    local_views = torch.cat(inputs[g:]) if len(inputs) > g else None
    feat_g, pred_g, feat_l, pred_l = model.student_passes(global_views, local_views)
    total = 0.
    for feat, pred in ((feat_g, pred_g), (feat_l, pred_l)):
        if feat is not None:
            total = total + pred.float().mean() + model.head.rotation_head(feat).float().mean()
    teacher = model.teacher_pass(global_views)
    return total + 0. * teacher.float().mean()


def build_optim_wrapper(model, amp: str, optimizer: str = 'fused'):
    """The paper schedule's optim wrapper for ``model``, with this run's AMP dtype."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper as build
    cfg = Config.fromfile(str(PAPER_SCHEDULE)).optim_wrapper
    if optimizer == 'foreach':
        cfg.optimizer.update(fused=False, foreach=True)
    if amp == 'none':
        disable_amp(cfg)  # same optimizer and clip rule in full precision
    else:
        enable_amp(cfg, amp)  # as tools/train.py --amp-dtype
    # quiet MMEngine's 'skipped since its requires_grad=False' line per teacher parameter
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return build(model, cfg)
    finally:
        logger.setLevel(level)


def count_host_syncs(model, optim_wrapper, data, step_fn, device) -> int:
    """Host-device syncs of one full step (an untimed extra step)."""
    with HostSyncRecorder(device) as syncs:
        time_steps(model, optim_wrapper, [data], step_fn, 1, 0, device, sync=False)
    return len(syncs.events)


def wrap_ddp(model, device: str, static_graph: bool = False):
    """``model`` in MMEngine's DDP wrapper as the Runner builds it (broadcast_buffers and
    find_unused_parameters off), in the launcher's process group or a 1-process one."""
    import os

    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    if not dist.is_initialized():
        for key, value in (('MASTER_ADDR', '127.0.0.1'), ('MASTER_PORT', '29533'),
                           ('RANK', '0'), ('WORLD_SIZE', '1')):
            os.environ.setdefault(key, value)
        dist.init_process_group('nccl' if device == 'cuda' else 'gloo')
    device_ids = [torch.cuda.current_device()] if device == 'cuda' else None
    return MMDistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False,
                                     find_unused_parameters=False, static_graph=static_graph)


def time_train_steps(ddp_model, optim_wrapper, batches, iters, warmup, device) -> list:
    """``train_step`` of the wrapped model (the Runner's iteration without its hooks)."""
    times = []
    for i in range(warmup + iters):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        ddp_model.train_step(copy.copy(batches[i % len(batches)]), optim_wrapper=optim_wrapper)
        if device == 'cuda':
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def time_steps(model, optim_wrapper, batches, step_fn, iters, warmup, device,
               sync: bool = True) -> list:
    sync = sync and device == 'cuda'
    times = []
    for i in range(warmup + iters):
        data = batches[i % len(batches)]
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        with optim_wrapper.optim_context(model):
            data_in = model.data_preprocessor(copy.copy(data), training=True)
            loss = step_fn(data_in)
        optim_wrapper.update_params(loss)
        if sync:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times
