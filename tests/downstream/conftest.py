"""Fixtures of the downstream tests (helpers in ``downstream_helpers.py``)."""
from __future__ import annotations

from pathlib import Path

import pytest
from downstream_helpers import make_ade_tiny, make_cls_tiny, make_coco_tiny, make_gtsa_checkpoint


@pytest.fixture(scope='session')
def gtsa_checkpoint(tmp_path_factory) -> Path:
    """Path of a GTSA Runner checkpoint (tiny student + teacher ViT).

    Written in the Runner layout by :func:`make_gtsa_checkpoint`. To test against a
    real pretraining run instead, train the tiny GTSA config here for one iteration
    with an MMEngine Runner (``work_dir=tmp_path_factory.mktemp('pretrain')``) and
    return ``work_dir / 'iter_1.pth'``; nothing else needs to change as long as
    ``downstream_helpers.TINY_VIT`` / ``PATCH_SIZE`` / ``PRETRAIN_IMG_SIZE`` match it.
    """
    import gtsa_mm  # noqa: F401
    import gtsa_mm.downstream  # noqa: F401

    return make_gtsa_checkpoint(tmp_path_factory.mktemp('pretrain') / 'epoch_1.pth')


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
