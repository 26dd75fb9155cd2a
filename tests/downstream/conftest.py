"""Fixtures of the downstream tests (helpers in ``tests/downstream_helpers.py``)."""
from __future__ import annotations

from pathlib import Path

import pytest
from downstream_helpers import (
    PATCH_SIZE,
    PRETRAIN_IMG_SIZE,
    TINY_VIT,
    make_ade_tiny,
    make_cls_tiny,
    make_coco_tiny,
)


@pytest.fixture(scope='session')
def gtsa_checkpoint(tmp_path_factory) -> Path:
    """A real GTSA Runner checkpoint: one epoch of tiny pretraining through the Runner.

    The student ViT is ``downstream_helpers.TINY_VIT`` with GTSA's backbone settings
    (``img_size=224``, ``patch_size=16``), trained on 64 / 32 px crops.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from pretrain_helpers import tiny_pretrain_cfg, write_images

    import gtsa_mm  # noqa: F401

    root = tmp_path_factory.mktemp('pretrain')
    dims = TINY_VIT['embed_dims']
    cfg = tiny_pretrain_cfg(
        root / 'work', write_images(root / 'images', 4), max_epochs=1,
        backbone=dict(type='VisionTransformer', arch=dict(TINY_VIT),
                      img_size=PRETRAIN_IMG_SIZE, patch_size=PATCH_SIZE, out_type='featmap'),
        neck=dict(type='GTSAProjector', in_channels=dims, out_channels=48),
        head=dict(rotation_head=dict(type='RotationHead', in_channels=dims, hidden_channels=32,
                                     bottleneck_channels=16),
                  region_sizes=(3, 1)))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        Runner.from_cfg(cfg).train()
    return root / 'work' / 'epoch_1.pth'


@pytest.fixture(scope='session')
def gtsa_state_dict(gtsa_checkpoint) -> dict:
    """The ``state_dict`` of :func:`gtsa_checkpoint`."""
    from gtsa_mm.downstream import read_state_dict

    return read_state_dict(str(gtsa_checkpoint))


@pytest.fixture(scope='session')
def coco_tiny(tmp_path_factory) -> Path:
    return make_coco_tiny(tmp_path_factory.mktemp('coco'))


@pytest.fixture(scope='session')
def ade_tiny(tmp_path_factory) -> Path:
    return make_ade_tiny(tmp_path_factory.mktemp('ade'))


@pytest.fixture(scope='session')
def cls_tiny(tmp_path_factory) -> Path:
    return make_cls_tiny(tmp_path_factory.mktemp('cls'))
