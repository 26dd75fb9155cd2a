"""DenseProbeHook says when the EMA teacher it probes has not been synced yet: before the
first update the teacher is an initialisation of its own, not a copy of the student."""
from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from gtsa_test_utils import tiny_demo_data, tiny_gtsa_model_cfg
from torch import nn


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> Path:
    return tiny_demo_data(tmp_path_factory.mktemp('teacher_sync') / 'demo', 2, 4, 2)


class ListHandler(logging.Handler):

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_unsynced_teacher_is_named_on_its_log_line(demo):
    from mmengine.logging import MMLogger
    from mmpretrain.registry import MODELS

    from gtsa_mm.engine.hooks import DenseProbeHook

    torch.manual_seed(0)
    model = MODELS.build(tiny_gtsa_model_cfg())
    model.init_weights()
    logger = MMLogger.get_instance('teacher_sync_test', log_level='INFO')
    handler = ListHandler()
    logger.addHandler(handler)
    try:
        scalars = []
        runner = SimpleNamespace(
            model=model, cfg=dict(model=tiny_gtsa_model_cfg()), epoch=0, iter=0, logger=logger,
            visualizer=SimpleNamespace(add_scalars=lambda values, step: scalars.append(values)))
        hook = DenseProbeHook(data_root=str(demo / 'ade'), probes=('collapse', ))
        hook.before_run(runner)

        before = hook.probe(runner)
        model.target_net.update_parameters(nn.Sequential(model.backbone, model.neck))  # 1st step
        after = hook.probe(runner, iters_done=1)

        lines = [line for line in handler.lines if line.startswith('DenseProbe(')]
        assert len(lines) == 4
        assert 'NOT YET SYNCED' in lines[1] and lines[1].startswith('DenseProbe(teacher)')
        assert not any('NOT YET SYNCED' in line for line in (lines[0], lines[2], lines[3]))
        assert before['teacher']['ema_synced'] is False and after['teacher']['ema_synced'] is True
        assert 'ema_synced' not in before['student']
        assert all(not any('ema_synced' in key for key in values) for values in scalars)
        # synced: the teacher is the student's copy, unsynced it was not
        key = 'feature_std'
        assert before['teacher'][key] != pytest.approx(before['student'][key], rel=1e-6)
        assert after['teacher'][key] == pytest.approx(after['student'][key], rel=1e-6)
    finally:
        logger.removeHandler(handler)
