"""The shipped pretraining configs log to TensorBoard: every loss term and the dense probes
reach the event file; without tensorboard, one warning says how to turn it on."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from gtsa_test_utils import tiny_demo_data
from mmengine.config import Config

from gtsa_mm.visualization import OptionalTensorboardVisBackend, tensorboard_available
from gtsa_mm.visualization import vis_backend as vis_backend_module

REPO = Path(__file__).resolve().parents[2]
PRETRAIN_CONFIGS = sorted((REPO / 'configs' / 'gtsa').glob('*.py')) + sorted(
    (REPO / 'configs' / 'dino').glob('*.py'))


@pytest.mark.parametrize('config', PRETRAIN_CONFIGS, ids=lambda p: p.name)
def test_pretraining_configs_list_tensorboard_beside_the_local_backend(config):
    backends = [b['type'] for b in Config.fromfile(str(config)).visualizer.vis_backends]
    assert backends == ['LocalVisBackend', 'OptionalTensorboardVisBackend']


def test_without_tensorboard_one_warning_and_no_files(tmp_path, monkeypatch):
    monkeypatch.setattr(vis_backend_module, 'tensorboard_available', lambda: False)
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        backend = OptionalTensorboardVisBackend(str(tmp_path / 'vis'))
        backend.add_scalars({'loss': 1.0}, step=1)
        backend.add_scalar('loss', 1.0, step=2)
        backend.close()
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(messages) == 1 and 'pip install tensorboard' in messages[0]
    assert not (tmp_path / 'vis').exists()


@pytest.mark.skipif(not tensorboard_available(), reason='tensorboard is not installed')
def test_a_short_run_writes_every_loss_term_and_the_probes_to_tensorboard(tmp_path):
    from mmengine.runner import Runner
    from pretrain_helpers import tiny_pretrain_cfg
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    demo = tiny_demo_data(tmp_path / 'demo', 4, 4, 2)
    cfg = tiny_pretrain_cfg(tmp_path / 'work', demo / 'pretrain', max_epochs=1,
                            batch_size=2)
    cfg.custom_hooks = [*cfg.get('custom_hooks', []),
                        dict(type='DenseProbeHook', data_root=str(demo / 'ade'),
                             backbones=['student'], probes=['collapse', 'nn'])]
    Runner.from_cfg(cfg).train()

    (events,) = (tmp_path / 'work').glob('*/vis_data/events.out.tfevents.*')
    accumulator = EventAccumulator(str(events.parent))
    accumulator.Reload()
    tags = set(accumulator.Tags()['scalars'])
    for tag in ('loss', 'loss_region', 'loss_patch', 'loss_rotation', 'lr',
                'dense_probe/student/nn_mIoU', 'dense_probe/student/feature_effective_rank'):
        assert tag in tags, sorted(tags)
    assert [e.step for e in accumulator.Scalars('loss_region')] == [1, 2]
    assert [e.step for e in accumulator.Scalars('dense_probe/student/nn_mIoU')] == [0, 2]
