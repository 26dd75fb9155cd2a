"""Shared fixtures: tiny GTSA models and data that run in seconds on a CPU."""
from __future__ import annotations

import copy

import pytest
import torch
from gtsa_test_utils import random_scene, tiny_gtsa_model_cfg, tiny_multicrop_cfg


@pytest.fixture(autouse=True)
def mmpretrain_default_scope():
    """Each test starts in MMPretrain's scope, whatever Runner ran before it."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture
def tiny_gtsa():
    """Build a fresh tiny GTSA model (a factory taking config overrides)."""
    from mmpretrain.registry import MODELS

    import gtsa_mm  # noqa: F401

    def build(**overrides):
        torch.manual_seed(0)
        model = MODELS.build(tiny_gtsa_model_cfg(**overrides))
        model.init_weights()
        return model

    return build


@pytest.fixture
def tiny_batch():
    """A factory of preprocessed batches for a tiny GTSA model."""
    from mmengine.dataset import default_collate
    from mmpretrain.registry import TRANSFORMS

    import gtsa_mm  # noqa: F401
    from gtsa_mm.datasets.transforms import GTSA_GEOMETRY_KEYS

    def make(model, batch_size=3, seed=0, **crop):
        multicrop = TRANSFORMS.build(tiny_multicrop_cfg(seed=seed, **crop))
        pack = TRANSFORMS.build(dict(type='PackInputs', algorithm_keys=GTSA_GEOMETRY_KEYS))
        samples = [pack(multicrop(dict(img=random_scene(96, 128, seed * 100 + i))))
                   for i in range(batch_size)]
        return model.data_preprocessor(default_collate(copy.deepcopy(samples)), training=True)

    return make
