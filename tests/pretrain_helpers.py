"""Tiny pretraining runs through MMEngine's Runner, shared by several tests."""
from __future__ import annotations

from pathlib import Path

import cv2
from gtsa_test_utils import random_scene, tiny_gtsa_model_cfg, tiny_multicrop_cfg
from mmengine.config import Config

from gtsa_mm.engine.optimizers import disable_amp

REPO = Path(__file__).resolve().parents[1]
PAPER_CONFIG = REPO / 'configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'


def write_images(folder: Path, count: int, size=(96, 128), seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f'img_{i:03d}.jpg'), random_scene(*size, seed + i))
    return folder


def tiny_pretrain_cfg(work_dir: Path, data_root: Path, max_epochs: int = 2,
                      batch_size: int = 4, lr: float = 1e-3, config: Path = PAPER_CONFIG,
                      **model_overrides) -> Config:
    """The shipped paper config, shrunk to a tiny ViT, tiny crops and a CPU."""
    cfg = Config.fromfile(str(config))
    cfg.model = tiny_gtsa_model_cfg(**model_overrides)
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline[1] = tiny_multicrop_cfg()
    cfg.train_dataloader.update(batch_size=batch_size, num_workers=0, persistent_workers=False,
                                pin_memory=False)
    cfg.train_dataloader.dataset.data_root = str(data_root)
    disable_amp(cfg.optim_wrapper)  # AMP needs a GPU; the same optimizer and clip rule
    cfg.optim_wrapper.optimizer.lr = lr
    cfg.param_scheduler = [
        dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=lr / 10, by_epoch=True,
             begin=0, end=max_epochs, convert_to_iter_based=True),
        dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs, by_epoch=True,
             begin=0, end=max_epochs, convert_to_iter_based=True),
    ]
    cfg.train_cfg.max_epochs = max_epochs
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.randomness = dict(seed=0, deterministic=False)
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    return cfg
