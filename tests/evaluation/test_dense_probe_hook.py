"""DenseProbeHook in a short Runner run: probes before training and after each epoch, with
every number in the log and in the visualizer's scalars."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from gtsa_test_utils import tiny_demo_data

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> Path:
    return tiny_demo_data(tmp_path_factory.mktemp('probe_hook') / 'demo', 8, 6, 3)


def _runner(tmp_path: Path, demo: Path, **hook):
    from mmengine.runner import Runner
    from pretrain_helpers import tiny_pretrain_cfg

    import gtsa_mm  # noqa: F401

    cfg = tiny_pretrain_cfg(tmp_path / 'work', demo / 'pretrain', max_epochs=2)
    cfg.log_level = 'INFO'
    cfg.custom_hooks = [*cfg.get('custom_hooks', []),
                        dict(type='DenseProbeHook', data_root=str(demo / 'ade'), **hook)]
    return Runner.from_cfg(cfg)


def _probe_hook(runner):
    from gtsa_mm.engine.hooks import DenseProbeHook

    return next(h for h in runner.hooks if isinstance(h, DenseProbeHook))


def test_hook_logs_probes_before_training_and_after_each_epoch(tmp_path, demo):
    runner = _runner(tmp_path, demo, interval=1)
    runner.train()
    hook = _probe_hook(runner)
    assert [(h['epochs'], h['iter']) for h in hook.history] == [(0, 0), (1, 2), (2, 4)]
    for entry in hook.history:
        for which in ('student', 'teacher'):
            result = entry[which]
            assert 0 <= result['linear_mIoU'] <= 100 and 0 <= result['nn_mIoU'] <= 100
            assert result['feature_effective_rank'] > 0
            assert result['projector_effective_rank'] > 0  # GTSA's projector is monitored
            assert result['grid'] == [8, 8]  # the backbone's 64 px, patch 8
    # the weights changed between the probes, so the features did
    assert hook.history[0]['student']['feature_std'] != hook.history[-1]['student']['feature_std']

    log = next((tmp_path / 'work').glob('*/*.log')).read_text()
    assert log.count('DenseProbe(student) after') == 3 and 'nn_mIoU' in log
    scalars = [json.loads(line) for line in
               next((tmp_path / 'work').glob('*/vis_data/scalars.json')).read_text().splitlines()]
    probed = [s for s in scalars if 'dense_probe/teacher/nn_mIoU' in s]
    assert [s['step'] for s in probed] == [0, 2, 4]
    assert 'dense_probe/student/feature_std_ratio' in probed[0]


def test_hook_by_iteration_without_the_initial_probe(tmp_path, demo):
    runner = _runner(tmp_path, demo, interval=3, by_epoch=False, before_train=False,
                     backbones=['student'], probes=['collapse', 'nn'])
    runner.train()
    history = _probe_hook(runner).history
    assert [h['iter'] for h in history] == [3, 4]  # every 3 iterations, and the last one
    assert set(history[0]) == {'epochs', 'iter', 'student'}
    assert 'linear_mIoU' not in history[0]['student'] and 'nn_mIoU' in history[0]['student']


def test_missing_probe_data_fails_before_training(tmp_path, demo):
    from mmengine.runner import Runner
    from pretrain_helpers import tiny_pretrain_cfg

    cfg = tiny_pretrain_cfg(tmp_path / 'work', demo / 'pretrain', max_epochs=1)
    cfg.custom_hooks = [dict(type='DenseProbeHook', data_root=str(tmp_path / 'nowhere'))]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(FileNotFoundError, match=r'DenseProbeHook .*nowhere'):
        runner.train()
    assert not list((tmp_path / 'work').glob('epoch_*.pth'))


def test_hook_arguments_are_checked():
    from gtsa_mm.engine.hooks import DenseProbeHook

    with pytest.raises(ValueError, match='interval'):
        DenseProbeHook('x', interval=0)
    with pytest.raises(ValueError, match='backbones'):
        DenseProbeHook('x', backbones=['ema'])
    with pytest.raises(ValueError, match='unknown probes'):
        DenseProbeHook('x', probes=['linear', 'knn'])


def _probe_runner(tmp_path: Path, demo: Path, **top_level):
    """A tiny pretraining run with a DenseProbeHook that reads the config's probe_data_root."""
    from mmengine.runner import Runner
    from pretrain_helpers import tiny_pretrain_cfg

    import gtsa_mm  # noqa: F401

    cfg = tiny_pretrain_cfg(tmp_path / 'work', demo / 'pretrain', max_epochs=1)
    cfg.log_level = 'INFO'
    cfg.custom_hooks = [dict(type='DenseProbeHook', backbones=['student'],
                             probes=['collapse'])]
    cfg.merge_from_dict(top_level)  # as --cfg-options does
    return Runner.from_cfg(cfg)


def test_inheriting_config_moves_the_probes_with_probe_data_root(tmp_path, demo):
    """A user's config on the shipped demo pretraining with data of its own: one line."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    user = tmp_path / 'my_gtsa.py'
    user.write_text(f"_base_ = '{REPO}/configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py'\n"
                    f"train_dataloader = dict(dataset=dict(data_root='{demo / 'pretrain'}'))\n"
                    f"probe_data_root = '{demo / 'ade'}'\n"
                    f"work_dir = '{tmp_path / 'work'}'\n")
    runner = Runner.from_cfg(Config.fromfile(str(user)))
    hook = _probe_hook(runner)
    assert hook.data_root is None
    hook.before_run(runner)
    assert len(hook.data.train_images) == 6 and len(hook.data.val_images) == 3


def test_missing_probe_data_names_the_option_to_change(tmp_path, demo):
    runner = _probe_runner(tmp_path, demo, probe_data_root=str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError) as error:
        runner.train()
    message = str(error.value)
    assert f"probe_data_root='{tmp_path / 'nowhere'}'" in message
    assert '--cfg-options probe_data_root=FOLDER' in message and 'probe_data_root=None' in message
    assert not list((tmp_path / 'work').glob('epoch_*.pth'))


def test_probe_data_root_none_trains_without_probes(tmp_path, demo):
    runner = _probe_runner(tmp_path, demo, probe_data_root=None)
    runner.train()
    assert _probe_hook(runner).history == [] and runner.epoch == 1
    log = next((tmp_path / 'work').glob('*/*.log')).read_text()
    assert 'probe_data_root=None, no dense probes' in log


def test_hook_without_any_probe_set_says_where_to_set_one(tmp_path, demo):
    runner = _probe_runner(tmp_path, demo)
    with pytest.raises(ValueError, match=r'set probe_data_root in the config \(--cfg-options'):
        runner.train()
