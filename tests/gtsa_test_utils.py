"""Tiny GTSA models and data that run in seconds on a CPU (shared by tests)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

# Timeouts of the subprocesses the tests start. They only catch a hung process: a slow or
# busy machine (CI may run beside other work) must never reach them, so they are generous.
#: A tool that only parses arguments or fails early (imports torch and OpenMMLab first).
QUICK_TOOL_TIMEOUT_S = 600
#: A tool or training process that runs a few tiny iterations, probes or pictures.
TOOL_TIMEOUT_S = 1800
#: An end-to-end run of several training stages (the quick demo, the comparison).
END_TO_END_TIMEOUT_S = 3600
TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def tiny_gtsa_model_cfg(**overrides) -> dict:
    """GTSA with a 2-block, 32-dim ViT-x/8 on 64 px global / 32 px local views.

    ``head=dict(...)`` is merged into the head (``None`` values switch a part off);
    other overrides replace top-level options."""
    head = dict(
        type='GTSAHead',
        predictor=dict(type='GTSAPredictor', in_channels=48, hidden_channels=48,
                       out_channels=48),
        rotation_head=dict(type='RotationHead', in_channels=32, hidden_channels=32,
                           bottleneck_channels=16),
        region_loss=dict(type='RegionLoss', loss_weight=1.0),
        patch_loss=dict(type='PatchCorrespondenceLoss', loss_weight=0.5),
        rotation_loss=dict(type='CrossEntropyLoss', loss_weight=0.5),
        region_sizes=(6, 3))
    head.update(overrides.pop('head', {}))
    cfg = dict(
        type='GTSA',
        data_preprocessor=dict(type='MultiViewDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True),
        backbone=dict(type='VisionTransformer', arch=dict(TINY_ARCH), img_size=64,
                      patch_size=8, drop_path_rate=0., out_type='featmap'),
        neck=dict(type='GTSAProjector', in_channels=32, out_channels=48),
        head=head)
    cfg.update(overrides)
    return cfg


def tiny_multicrop_cfg(**overrides) -> dict:
    cfg = dict(type='GTSAMultiCrop', global_size=64, local_size=32)
    cfg.update(overrides)
    return cfg


def random_scene(h: int, w: int, seed: int) -> np.ndarray:
    """A cluttered uint8 BGR image: random rectangles over a vertical gradient."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = np.linspace(40, 200, h, dtype=np.uint8)[:, None, None]
    for _ in range(12):
        x0, y0 = rng.integers(0, w - 4), rng.integers(0, h - 4)
        x1, y1 = x0 + rng.integers(4, w // 3), y0 + rng.integers(4, h // 3)
        img[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    return img


def sgd_step(model, data, optimizer, amp_dtype=None):
    """One training step of ``model.loss`` (autocast to ``amp_dtype`` when given).

    Returns the losses as floats and the backbone's gradients, flattened.
    """
    device = 'cuda' if next(model.parameters()).is_cuda else 'cpu'
    with torch.autocast(device, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        losses = model.loss(data['inputs'], data['data_samples'])
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    optimizer.zero_grad()
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.backbone.parameters()])
    optimizer.step()
    return {k: float(v) for k, v in losses.items()}, grads


def assert_steps_match(reference, candidate, batches, amp_dtype=None, steps: int = 4) -> None:
    """``steps`` SGD steps of two models on alternating ``batches`` (step 0 captures graphs
    or compiles, later steps replay with updated weights): the same losses and backbone
    gradients at every step, looser under autocast."""
    models = (reference, candidate)
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in models]
    tol = dict(rtol=2e-2, atol=2e-3) if amp_dtype else dict(rtol=1e-4, atol=1e-5)
    for step in range(steps):
        data = batches[step % len(batches)]
        (a, ga), (b, gb) = (sgd_step(m, data, o, amp_dtype) for m, o in zip(models, opts))
        for key in a:
            torch.testing.assert_close(torch.tensor(b[key]), torch.tensor(a[key]), **tol)
        torch.testing.assert_close(gb, ga, **tol)


def tiny_dino_model_cfg(**overrides) -> dict:
    """DINO with the 2-block, 32-dim ViT-x/8 (class-token output) and a small head."""
    cfg = dict(
        type='DINO',
        backbone=dict(type='VisionTransformer', arch=dict(TINY_ARCH), img_size=32, patch_size=8,
                      out_type='cls_token'),
        head=dict(type='DINOProjectionHead', in_channels=32, hidden_channels=32,
                  bottleneck_channels=16, out_channels=20),
        loss=dict(type='DINOLoss', out_channels=20))
    cfg.update(overrides)
    return cfg


def tiny_demo_data(out, num_pretrain: int, num_train: int, num_val: int, size: int = 96):
    """The demo data generator's scenes, a handful of small images, under ``out``."""
    from gtsa_mm_lab.demo_data.cli import main as make_demo_data

    assert make_demo_data(['--out', str(out), '--num-pretrain', str(num_pretrain),
                           '--num-train', str(num_train), '--num-val', str(num_val),
                           '--image-size', str(size), '--quiet']) == 0
    return out


def toy_linear_model():
    """An MMEngine model of one 2 -> 1 linear layer, loss mean(out ** 2): Runner tests that
    are about checkpoints and hooks, not about GTSA."""
    from mmengine.model import BaseModel
    from torch import nn

    class ToyLinearModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = self.linear(inputs)
            return dict(loss=out.pow(2).mean()) if mode == 'loss' else out

    return ToyLinearModel()


def run_tool(script: str, *args: str, check: bool = False,
             timeout: float | None = TOOL_TIMEOUT_S) -> subprocess.CompletedProcess:
    """``python tools/<script> ARGS`` from the repository root, its output captured as text."""
    return subprocess.run([sys.executable, str(REPO / 'tools' / script), *args],
                          capture_output=True, text=True, cwd=REPO, check=check,
                          timeout=timeout)
