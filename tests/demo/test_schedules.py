"""gtsa_mm_lab.demo.schedules: the demo pretraining schedule for any epoch count, and the two
demo pretraining configs (GTSA, DINO) that write it out for 24 epochs."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
from mmengine.config import Config

from gtsa_mm_lab.demo import schedules

REPO = Path(__file__).resolve().parents[2]
GTSA_DEMO = REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py'
DINO_DEMO = REPO / 'configs/dino/dino_vit-tiny-p8_1xb32-coslr-24e_demo.py'


@pytest.fixture(scope='module')
def gtsa_demo() -> Config:
    return Config.fromfile(str(GTSA_DEMO))


@pytest.fixture(scope='module')
def dino_demo() -> Config:
    return Config.fromfile(str(DINO_DEMO))


def test_schedule_with_warmup_by_hand():
    assert schedules.pretrain_schedule(10, 1, 2e-4) == [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
             convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', T_max=9, eta_min=2e-6, by_epoch=True, begin=1, end=10,
             convert_to_iter_based=True),
        dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=10, by_epoch=True, begin=0,
             end=10, convert_to_iter_based=True),
    ]


def test_schedule_without_warmup_starts_the_cosine_at_zero():
    schedule = schedules.pretrain_schedule(2, 0, 1e-4)
    assert [s['type'] for s in schedule] == ['CosineAnnealingLR', 'CosineAnnealingWeightDecay']
    assert (schedule[0]['begin'], schedule[0]['end'], schedule[0]['T_max']) == (0, 2, 2)


def test_patch_loss_warmup_epochs():
    assert schedules.patch_loss_warmup_epochs(24, 2) == 3  # off in 0-based epochs 0, 1, 2
    assert schedules.patch_loss_warmup_epochs(3, 2) == 2  # on for the last epoch at least
    assert schedules.patch_loss_warmup_epochs(2, 0) == 0


def test_dino_schedule():
    assert schedules.dino_schedule(100) == dict(teacher_temp_warmup_epochs=30,
                                                freeze_last_layer_epochs=1)
    assert schedules.dino_schedule(2) == dict(teacher_temp_warmup_epochs=1,
                                              freeze_last_layer_epochs=0)


@pytest.mark.parametrize('config', [GTSA_DEMO, DINO_DEMO], ids=lambda p: p.parent.name)
def test_the_demo_configs_are_the_schedule_at_24_epochs(config):
    cfg = Config.fromfile(str(config))
    assert cfg.param_scheduler == schedules.pretrain_schedule(24, cfg.warmup_epochs,
                                                    cfg.optim_wrapper.optimizer.lr)
    unchanged = copy.deepcopy(cfg)
    schedules.set_pretrain_epochs(cfg, 24, cfg.warmup_epochs)
    for key in ('model', 'param_scheduler', 'train_cfg', 'default_hooks'):
        assert cfg[key] == unchanged[key], key


def test_set_pretrain_epochs_on_the_gtsa_demo_config(gtsa_demo):
    cfg = copy.deepcopy(gtsa_demo)
    schedules.set_pretrain_epochs(cfg, 5, 1)
    assert cfg.param_scheduler == schedules.pretrain_schedule(5, 1, 1e-4)
    assert cfg.model.head.patch_loss.warmup_epochs == 2
    assert cfg.train_cfg.max_epochs == cfg.default_hooks.checkpoint.interval == 5


def test_dino_demo_config_builds_with_the_gtsa_demos_backbone_data_and_optimiser(
        gtsa_demo, dino_demo):
    from mmpretrain.registry import MODELS

    import gtsa_mm  # noqa: F401

    model = MODELS.build(dino_demo.model)
    assert type(model).__name__ == 'DINO'
    assert dino_demo.model.backbone == dict(gtsa_demo.model.backbone, out_type='cls_token')
    assert dino_demo.model.data_preprocessor == gtsa_demo.model.data_preprocessor
    assert dino_demo.model.base_momentum == gtsa_demo.model.base_momentum
    # GTSA reads its number of global views from its crops; DINO's model names it
    crop = next(t for t in gtsa_demo.train_dataloader.dataset.pipeline
                if t.type == 'GTSAMultiCrop')
    assert dino_demo.model.num_global == crop.num_global
    head = dino_demo.model.head
    assert (head.in_channels, head.hidden_channels, head.bottleneck_channels,
            head.out_channels) == (128, 256, 64, 1024)
    assert dino_demo.model.loss.out_channels == head.out_channels
    epoch_counted = schedules.dino_schedule(24)
    assert {key: dino_demo.model[key] for key in epoch_counted} == epoch_counted
    for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler', 'train_cfg',
                'auto_scale_lr', 'default_hooks', 'custom_hooks', 'env_cfg', 'randomness'):
        assert dino_demo[key] == gtsa_demo[key], key
