"""Every downstream config: loads, builds at full size, and, shrunk for a CPU, loads the
GTSA checkpoint through init_cfg, trains one iteration and evaluates with the
toolbox's own metric."""
from __future__ import annotations

import math
import numbers

import pytest
import torch
from downstream_helpers import (
    ALL_CONFIGS,
    assert_backbone_loaded,
    build_runner,
    load_config,
    tiny_finetune_cfg,
    tiny_linear_cfg,
    tiny_mask_rcnn_cfg,
    tiny_sem_fpn_cfg,
    tiny_upernet_cfg,
)
from mmengine.runner import Runner

import gtsa_mm  # noqa: F401
from gtsa_mm.downstream import BackboneCheckpointError


@pytest.mark.parametrize('config', ALL_CONFIGS)
def test_config_has_unset_gtsa_checkpoint_and_layer_decay_constructor(config):
    cfg = load_config(config)
    assert cfg.custom_imports == dict(imports=['gtsa_mm'], allow_failed_imports=False)
    backbone = cfg.model.backbone
    assert backbone.type.endswith('VisionTransformer') and backbone.arch == 'deit-small'
    assert backbone.patch_size == 16
    assert backbone.init_cfg == dict(type='GTSAPretrained', checkpoint=None,
                                     use_teacher=False)
    if 'linear' not in config:
        assert cfg.optim_wrapper.constructor == 'ViTLayerDecayOptimWrapperConstructor'


def _train_and_validate(runner, state_dict):
    backbone = runner.model.backbone
    assert assert_backbone_loaded(backbone, state_dict) == len(backbone.state_dict())
    runner.train()
    assert runner.iter == 1
    return runner.val()


def _assert_real(metrics, *keys):
    for key in keys:
        assert key in metrics, f'{key} missing from {metrics}'
        assert isinstance(metrics[key], numbers.Real), metrics  # float or numpy float
        assert math.isfinite(metrics[key]), metrics


def test_mask_rcnn_trains_and_evaluates(gtsa_checkpoint, gtsa_state_dict, coco_tiny, tmp_path):
    runner = build_runner(tiny_mask_rcnn_cfg(gtsa_checkpoint, coco_tiny, tmp_path))
    metrics = _train_and_validate(runner, gtsa_state_dict)
    # CocoMetric returns {} when the model predicts nothing, so this also checks that.
    _assert_real(metrics, 'coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50')


@pytest.mark.parametrize('make_cfg', [tiny_upernet_cfg, tiny_sem_fpn_cfg],
                         ids=['upernet', 'semantic_fpn'])
def test_segmentor_trains_and_evaluates(make_cfg, gtsa_checkpoint, gtsa_state_dict, ade_tiny,
                                        tmp_path):
    runner = build_runner(make_cfg(gtsa_checkpoint, ade_tiny, tmp_path))
    assert runner.model.backbone.pos_embed.shape[1] == 1 + 4 * 4  # resized from 14 x 14
    metrics = _train_and_validate(runner, gtsa_state_dict)
    _assert_real(metrics, 'mIoU', 'aAcc')


def test_finetune_trains_and_evaluates(gtsa_checkpoint, gtsa_state_dict, cls_tiny, tmp_path):
    runner = build_runner(tiny_finetune_cfg(gtsa_checkpoint, cls_tiny, tmp_path))
    metrics = _train_and_validate(runner, gtsa_state_dict)
    _assert_real(metrics, 'accuracy/top1', 'accuracy/top5')


def test_linear_probe_keeps_backbone_frozen(gtsa_checkpoint, gtsa_state_dict, cls_tiny,
                                            tmp_path):
    runner = build_runner(tiny_linear_cfg(gtsa_checkpoint, cls_tiny, tmp_path))
    head_before = runner.model.head.fc.weight.detach().clone()
    metrics = _train_and_validate(runner, gtsa_state_dict)
    _assert_real(metrics, 'accuracy/top1')
    assert_backbone_loaded(runner.model.backbone, gtsa_state_dict)  # unchanged by training
    assert not torch.equal(runner.model.head.fc.weight, head_before)


def test_training_without_checkpoint_stops_with_instructions(cls_tiny, tmp_path):
    runner = Runner.from_cfg(tiny_finetune_cfg(None, cls_tiny, tmp_path))
    with pytest.raises(BackboneCheckpointError, match='init_cfg.checkpoint='):
        runner.train()


def test_wrong_checkpoint_in_segmentor_names_it(tmp_path, ade_tiny):
    # A detector checkpoint handed to the segmentation config.
    path = tmp_path / 'mask_rcnn_r50_fpn_1x_coco.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(8, 3, 7, 7),
                                'roi_head.bbox_head.fc_cls.weight': torch.zeros(3, 8)}), path)
    with pytest.raises(BackboneCheckpointError) as error:
        build_runner(tiny_upernet_cfg(path, ade_tiny, tmp_path / 'work'))
    message = str(error.value)
    assert str(path) in message and "'backbone.'" in message and 'cls_token' in message
