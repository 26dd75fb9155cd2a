"""Tests of gtsa_mm_lab.demo.gpu_study (``bash tools/study_gpu.sh``): the study configs, the
schedule scaled to the epochs of a time budget, the timing arithmetic and the parallel
scene drawing. The end-to-end run is tests/tools/test_compare.py::test_quick_gpu_study_on_cpu.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from mmengine.config import Config

from gtsa_mm_lab.demo import gpu_study as study


@pytest.mark.parametrize('method', ['gtsa', 'dino'])
def test_study_configs_are_the_paper_recipe_on_one_gpu(method):
    cfg = Config.fromfile(str(study.STUDY_CONFIGS[method]))
    assert cfg.model.type == method.upper()
    assert cfg.model.backbone.arch == 'deit-small' and cfg.model.backbone.patch_size == 16
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert (crop.global_size, crop.local_size, crop.num_global, crop.num_local) == (224, 96, 2, 8)
    assert cfg.train_dataloader.batch_size == 128
    assert math.isclose(cfg.optim_wrapper.optimizer.lr, 5e-4 * 128 / 256)
    assert cfg.optim_wrapper.dtype == 'bfloat16' and cfg.optim_wrapper.loss_scale == dict(
        enabled=False)
    assert cfg.train_dataloader.dataset.data_root == 'data/demo_gpu/pretrain/'


def test_the_two_study_configs_differ_only_in_the_method():
    gtsa, dino = (Config.fromfile(str(study.STUDY_CONFIGS[m])) for m in ('gtsa', 'dino'))
    assert gtsa.train_dataloader == dino.train_dataloader
    assert gtsa.optim_wrapper == dino.optim_wrapper
    assert gtsa.param_scheduler == dino.param_scheduler
    assert gtsa.model.backbone.arch == dino.model.backbone.arch


def test_budget_epochs_scale_the_paper_schedule(tmp_path):
    cfg = study.study_config('gtsa', study.StudySettings(), tmp_path, tmp_path / 'w', 'cuda')
    study.set_budget_epochs(cfg, 40)
    lin, cos, wd = cfg.param_scheduler
    assert (lin.type, lin.begin, lin.end) == ('LinearLR', 0, 4)  # the paper's 10 of 100
    assert (cos.begin, cos.end, cos.T_max, cos.eta_min) == (4, 40, 36, 1e-6)
    assert (wd.type, wd.end, wd.T_max, wd.eta_min) == ('CosineAnnealingWeightDecay', 40, 40,
                                                       0.4)
    assert cfg.train_cfg.max_epochs == 40 and cfg.default_hooks.checkpoint.interval == 40
    assert cfg.model.head.patch_loss.warmup_epochs == 5  # the authors' rule: warm-up + 1
    dino = study.study_config('dino', study.StudySettings(), tmp_path, tmp_path / 'w', 'cuda')
    study.set_budget_epochs(dino, 40)
    assert dino.model.teacher_temp_warmup_epochs == 12  # 30 % as the paper's 30 of 100
    one = study.study_config('gtsa', study.StudySettings(), tmp_path, tmp_path / 'w', 'cpu')
    study.set_budget_epochs(one, 1)
    assert [s.type for s in one.param_scheduler] == ['CosineAnnealingLR',
                                                     'CosineAnnealingWeightDecay']
    assert one.optim_wrapper.type == 'PerParameterClipOptimWrapper'  # no AMP on a CPU


def test_quick_config_builds_a_tiny_model(tmp_path):
    from mmpretrain.registry import MODELS

    import gtsa_mm  # noqa: F401

    for method in ('gtsa', 'dino'):
        cfg = study.study_config(method, study.QUICK_SETTINGS, tmp_path, tmp_path / 'w', 'cpu')
        assert cfg.train_dataloader.num_workers == 0
        assert not cfg.train_dataloader.persistent_workers
        model = MODELS.build(cfg.model)
        assert model.backbone.embed_dims == study.TINY_ARCH['embed_dims']


def test_timing_arithmetic():
    rows = [dict(loss=1., time=2.0), dict(lr=1e-3), dict(loss=1., time=0.5),
            dict(loss=1., time=0.7), dict(mIoU=3.)]
    assert study.seconds_per_iter(rows) == pytest.approx(0.6)  # the start-up window left out
    assert study.seconds_per_iter(rows[:1]) == 2.0
    with pytest.raises(ValueError):
        study.seconds_per_iter([dict(lr=1.)])
    assert study.budget_epochs(1800., 0.15, 78) == 153  # 1800 / 11.7 s per epoch
    assert study.budget_epochs(5., 1., 10) == 1  # at least one epoch
    cfg = Config(dict(train_dataloader=dict(batch_size=4, dataset=dict()),
                      train_cfg=dict(max_epochs=9), default_hooks=dict(checkpoint=dict()),
                      model=dict(type='GTSA', head=dict(patch_loss=dict(warmup_epochs=11))),
                      work_dir='/w/gtsa'))
    cfg.default_hooks.logger = dict(interval=10)
    timing = study.timing_config(cfg, 5)
    assert timing.model.head.patch_loss.warmup_epochs == 0  # timed with every loss on
    assert timing.train_dataloader.dataset.indices == 20 and timing.train_cfg.max_epochs == 1
    assert timing.default_hooks.checkpoint is None and timing.work_dir == '/w/gtsa/timing'
    assert cfg.train_cfg.max_epochs == 9  # a copy


def test_parallel_scenes_equal_the_generators(tmp_path):
    from gtsa_mm_lab.demo_data.cli import main as make_demo_data

    settings = study.StudySettings(num_pretrain=5, image_size=64, num_train=2, num_val=1)
    said = []
    study.ensure_study_data(tmp_path / 'parallel', settings, 2, said.append)
    assert make_demo_data(['--out', str(tmp_path / 'serial'), '--num-pretrain', '5',
                           '--num-train', '2', '--num-val', '1', '--image-size', '64',
                           '--quiet']) == 0
    serial = sorted(p.relative_to(tmp_path / 'serial')
                    for p in (tmp_path / 'serial').rglob('*') if p.is_file())
    for path in serial:
        assert (tmp_path / 'parallel' / path).read_bytes() == \
            (tmp_path / 'serial' / path).read_bytes(), path
    assert sorted(p.relative_to(tmp_path / 'parallel') for p in
                  (tmp_path / 'parallel').rglob('*') if p.is_file()) == serial
    study.ensure_study_data(tmp_path / 'parallel', settings, 2, said.append)
    assert said[-1].startswith('data: using')
    # a killed run: images missing are drawn again, the rest kept
    (tmp_path / 'parallel' / 'pretrain' / 'pretrain_000003.jpg').unlink()
    study.ensure_study_data(tmp_path / 'parallel', settings, 1, said.append)
    assert 'drawing 1 unlabelled' in ' '.join(said[-3:])
    assert Path(tmp_path / 'parallel' / 'pretrain' / 'pretrain_000003.jpg').read_bytes() == \
        (tmp_path / 'serial' / 'pretrain' / 'pretrain_000003.jpg').read_bytes()


def _logged_times(iteration_seconds: list[float], interval: int, window_size: int) -> list[dict]:
    """The ``time`` rows MMEngine's LogProcessor writes for these per-iteration seconds:
    the mean of the last ``window_size`` ones at every ``interval``-th iteration."""
    from mmengine.logging import HistoryBuffer

    buffer, rows = HistoryBuffer(), []
    for i, seconds in enumerate(iteration_seconds, 1):
        buffer.update(seconds)
        if i % interval == 0:
            rows.append(dict(loss=1., time=buffer.mean(window_size)))
    return rows


def test_timing_windows_hold_only_their_own_iterations():
    """The timing run logs every min(interval, iters // 2) iterations and averages over
    exactly those: with MMEngine's default window of 10 and an interval of 2, a slow first
    step would still be in the third window and the seconds per iteration too high."""
    cfg = Config(dict(train_dataloader=dict(batch_size=4, dataset=dict()),
                      train_cfg=dict(max_epochs=9), default_hooks=dict(
                          checkpoint=dict(), logger=dict(interval=50)),
                      model=dict(type='DINO'), work_dir='/w/dino'))
    timing = study.timing_config(cfg, 8, log_interval=10)
    assert timing.default_hooks.logger.interval == 4  # two windows of the 8 iterations
    assert timing.log_processor == dict(window_size=4)
    timing = study.timing_config(cfg, 40)  # the config's interval, capped at iters // 2
    assert timing.default_hooks.logger.interval == 20
    assert timing.log_processor.window_size == 20
    assert study.timing_config(cfg, 3, 10).log_processor.window_size == 1
    cfg.log_processor = dict(window_size=10, by_epoch=True)
    assert study.timing_config(cfg, 6, 2).log_processor == dict(window_size=2, by_epoch=True)
    assert cfg.log_processor.window_size == 10  # a copy

    steps = [5., 1., 1., 1., 1., 1.]  # the first step pays for the start-up
    assert study.seconds_per_iter(_logged_times(steps, 2, 2)) == pytest.approx(1.)
    assert study.seconds_per_iter(_logged_times(steps, 2, 10)) > 1.5  # MMEngine's default


def test_resume_settings_name_what_the_pretraining_depends_on(tmp_path):
    settings = study.StudySettings()
    cfg = study.study_config('gtsa', settings, tmp_path, tmp_path / 'w', 'cuda')
    recorded = study.run_settings('gtsa', settings, cfg, 'cuda')
    assert recorded['scenes'] == 10_000 and recorded['scene_size'] == 320
    assert recorded['batch_size'] == 128 and recorded['minutes'] == 30.
    assert recorded['config'] == str(study.STUDY_CONFIGS['gtsa'].relative_to(study.REPO))
    assert json.loads(json.dumps(recorded)) == recorded  # as budget.json holds it
    for changed in (dict(num_pretrain=5000), dict(image_size=256), dict(batch_size=64),
                    dict(minutes=20.), dict(seed=1)):
        other = replace(settings, **changed)
        other_cfg = study.study_config('gtsa', other, tmp_path, tmp_path / 'w', 'cuda')
        assert study.run_settings('gtsa', other, other_cfg, 'cuda') != recorded, changed
    variant = study.study_config('gtsa', settings, tmp_path, tmp_path / 'w', 'cuda')
    variant.model.head.rotation_head = None  # another method config
    assert study.run_settings('gtsa', settings, variant, 'cuda') != recorded
    dino = study.study_config('dino', settings, tmp_path, tmp_path / 'w', 'cuda')
    assert study.run_settings('dino', settings, dino, 'cuda') != recorded


def test_resume_reuses_a_pretraining_of_the_same_settings_only(tmp_path):
    """budget.json records the settings; --resume reuses the run only when they and the
    trained config are the same (not for another scene count of the same minutes)."""
    settings = study.QUICK_SETTINGS
    cfg = study.study_config('gtsa', settings, tmp_path, tmp_path / 'gtsa', 'cpu')
    run = Path(cfg.work_dir)
    run.mkdir()
    wanted = study.run_settings('gtsa', settings, cfg, 'cpu')
    assert study.finished_study_run(run, cfg, wanted) == (None, {})
    trained = study.study_config('gtsa', settings, tmp_path, run, 'cpu')
    study.set_budget_epochs(trained, 3)
    trained.dump(str(run / 'config.py'))  # the Runner's dump, then the final checkpoint
    os.utime(run / 'config.py', ns=(time.time_ns() - 10**10,) * 2)
    (run / 'epoch_3.pth').write_bytes(b'x')
    (run / 'last_checkpoint').write_text(str(run / 'epoch_3.pth'))
    record = dict(method='gtsa', minutes=settings.minutes, epochs=3)  # an older record
    (run / 'budget.json').write_text(json.dumps(record))
    assert study.finished_study_run(run, cfg, wanted)[0] is None
    (run / 'budget.json').write_text(json.dumps(dict(record, settings=wanted)))
    assert study.finished_study_run(run, cfg, wanted)[0] == run / 'epoch_3.pth'
    more = replace(settings, num_pretrain=32)
    assert study.finished_study_run(
        run, cfg, study.run_settings('gtsa', more, cfg, 'cpu'))[0] is None
    bigger = replace(settings, batch_size=8)
    other_cfg = study.study_config('gtsa', bigger, tmp_path, run, 'cpu')
    (run / 'budget.json').write_text(json.dumps(dict(
        record, settings=study.run_settings('gtsa', bigger, other_cfg, 'cpu'))))
    # the record claims batch 8, the run trained batch 4
    assert study.finished_study_run(run, other_cfg, study.run_settings(
        'gtsa', bigger, other_cfg, 'cpu'))[0] is None
