"""Tests of the demo (gtsa_mm_lab.demo, tools/demo.py) and the demo configs.

The fast tests load and build the demo configs and check the stage configs the demo
derives from them; the slow one runs ``tools/demo.py --quick`` end to end (data,
pretraining, fine-tunes over two seeds with evaluation, probes, pictures) in a temporary
folder.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from gtsa_test_utils import END_TO_END_TIMEOUT_S, QUICK_TOOL_TIMEOUT_S

import gtsa_mm_lab.demo_data as mdd
from gtsa_mm_lab.demo import cli, jobs, results, stages
from gtsa_mm_lab.demo_data.cli import main as make_demo_data

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / 'tools'


@pytest.fixture(scope='module')
def demo_meta(tmp_path_factory) -> dict:
    """meta.json of a tiny data set written by tools/make_demo_data.py."""
    out = tmp_path_factory.mktemp('demo_data')
    assert make_demo_data(['--out', str(out), '--num-pretrain', '1', '--num-train', '1',
                     '--num-val', '1', '--image-size', '64', '--quiet']) == 0
    return json.loads((out / 'meta.json').read_text())


def _config(path: Path):
    from mmengine.config import Config
    return Config.fromfile(str(path))


# ------------------------------------------------------------------------------ fast
def test_help_as_a_script():
    result = subprocess.run([sys.executable, str(TOOLS / 'demo.py'), '--help'],
                            capture_output=True, text=True, timeout=QUICK_TOOL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    for flag in ('--work-dir', '--data-root', '--quick', '--skip-scratch', '--pretrained',
                 '--jobs', '--seeds'):
        assert flag in result.stdout


def test_config_files_exist_and_inherit_the_shipped_ones():
    shipped = {stages.DET_CONFIG: 'mask-rcnn_vit-small-p16-gtsa_fpn_1x_coco.py',
               stages.SEG_CONFIG: 'upernet_vit-small-p16-gtsa_8xb2-160k_ade20k-512x512.py',
               stages.SEG_LOW_LABEL_CONFIG: 'upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py'}
    for path, base in shipped.items():
        assert path.is_file(), path
        assert f"_base_ = './{base}'" in path.read_text()
    # the pretraining demo: the paper config's model and image-folder data bases, at demo size
    paper = REPO / 'configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'
    demo_text = stages.PRETRAIN_CONFIG.read_text()
    for base in ('../_base_/models/gtsa_vit-small-p16.py',):
        assert f"'{base}'" in demo_text and f"'{base}'" in paper.read_text()
    scenes = REPO / 'configs/_base_/datasets/demo_scenes.py'
    demo_bases = (REPO / 'configs/_base_/pretrain_demo.py').read_text()
    assert "'../_base_/pretrain_demo.py'" in demo_text
    assert "'./datasets/demo_scenes.py'" in demo_bases
    assert "_base_ = './gtsa_imagefolder.py'" in scenes.read_text()
    assert "'./demo_runtime.py'" in demo_bases
    assert "_base_ = './pretrain_runtime.py'" in (REPO / 'configs/_base_/demo_runtime.py'
                                                  ).read_text()


@pytest.mark.parametrize('path', ['DET_CONFIG', 'SEG_CONFIG', 'SEG_LOW_LABEL_CONFIG'])
def test_classes_equal_meta_json(path, demo_meta):
    cfg = _config(getattr(stages, path))
    classes = tuple(demo_meta['classes'])
    assert tuple(cfg.metainfo['classes']) == classes
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert tuple(loader.dataset.metainfo['classes']) == classes
    if path == 'DET_CONFIG':
        heads = (cfg.model.roi_head.bbox_head, cfg.model.roi_head.mask_head)
    else:
        heads = (cfg.model.decode_head, cfg.model.auxiliary_head)
    assert all(head.num_classes == len(classes) for head in heads)


def test_pretraining_config_builds():
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import gtsa_mm  # noqa: F401

    cfg = _config(stages.PRETRAIN_CONFIG)
    assert cfg.optim_wrapper.type == 'PerParameterClipOptimWrapper'  # no AMP on a CPU
    assert cfg.optim_wrapper.clip_grad == dict(type='per_parameter_norm', max_norm=3.0)
    assert cfg.model.head.patch_loss.warmup_epochs < cfg.train_cfg.max_epochs
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    crop = cfg.train_dataloader.dataset.pipeline[1]
    # region sizes fit the global / local token maps
    assert model.head.region_sizes[0] <= crop.global_size // model.head.patch_size
    assert model.head.region_sizes[1] <= crop.local_size // model.head.patch_size


@pytest.mark.parametrize('path', ['DET_CONFIG', 'SEG_CONFIG'])
def test_downstream_configs_build_with_the_pretraining_backbone(path):
    from mmengine.registry import DefaultScope, init_default_scope

    import gtsa_mm  # noqa: F401

    pretrain = _config(stages.PRETRAIN_CONFIG).model.backbone
    cfg = _config(getattr(stages, path))
    backbone = cfg.model.backbone
    assert backbone.arch == pretrain.arch and backbone.patch_size == pretrain.patch_size
    assert backbone.init_cfg.type == 'GTSAPretrained'
    cfg.model.backbone.init_cfg = None
    scope = 'mmdet' if path == 'DET_CONFIG' else 'mmseg'
    with DefaultScope.overwrite_default_scope(scope):
        init_default_scope(scope)
        if scope == 'mmdet':
            from mmdet.registry import MODELS
        else:
            from mmseg.registry import MODELS
        model = MODELS.build(cfg.model)
    assert model.backbone.num_layers == pretrain.arch['num_layers']


def test_stages_quick(tmp_path):
    settings = stages.default_settings(quick=True)
    assert settings.seeds == stages.QUICK_SEEDS
    built, checkpoint = stages.build_stages(settings, tmp_path / 'data', tmp_path / 'work',
                                            pretrained=None, scratch=True, num_train=128)
    by_name = {s.name: s for s in built}
    expected = ['pretrain'] + [f'{kind}_{init}_seed{seed}' for seed in settings.seeds
                               for kind in stages.FINETUNES for init in stages.INITS]
    assert list(by_name) == expected
    assert checkpoint == tmp_path / 'work' / 'pretrain' / 'epoch_1.pth'
    for init in stages.INITS:
        for seed in settings.seeds:
            det = by_name[f'det_{init}_seed{seed}']
            seg = by_name[f'seg_{init}_seed{seed}']
            low = by_name[f'seg_low_label_{init}_seed{seed}']
            assert det.work_dir == tmp_path / 'work' / f'det_{init}' / f'seed{seed}'
            for stage in (det, seg, low):
                cfg = stage.config
                assert cfg.randomness.seed == seed
                if init == 'gtsa':
                    assert cfg.model.backbone.init_cfg.checkpoint == str(checkpoint)
                    assert stage.needs == ('pretrain',)
                else:
                    assert cfg.model.backbone.init_cfg is None and stage.needs == ()
            assert det.config.val_evaluator.ann_file == str(
                tmp_path / 'data' / 'coco' / 'annotations' / 'instances_val.json')
            assert det.config.train_dataloader.dataset.data_root == str(tmp_path / 'data' / 'coco')
            assert seg.config.train_dataloader.dataset.data_root == str(tmp_path / 'data' / 'ade')
            assert det.config.train_cfg.max_epochs == 1 and seg.config.train_cfg.max_iters == 4
            # quick: 8 training images, one (1/8) for the label-scarce fine-tune
            assert low.config.train_dataloader.dataset.indices == stages.low_label_indices(
                8, 1 / 8, seed)
            assert len(low.config.train_dataloader.dataset.indices) == 1
    pretrain = by_name['pretrain'].config
    assert pretrain.train_dataloader.dataset.data_root == str(tmp_path / 'data' / 'pretrain')
    assert pretrain.train_cfg.max_epochs == 1
    assert pretrain.model.head.patch_loss.warmup_epochs == 0
    assert [s.name for s in stages.stages_of(built, 'seg', 'gtsa')] == [
        f'seg_gtsa_seed{seed}' for seed in settings.seeds]


def test_stages_full_schedule_and_label_subsets(tmp_path):
    settings = stages.default_settings(quick=False)
    assert settings.seeds == (0, 1, 2)
    built, _ = stages.build_stages(settings, tmp_path / 'data', tmp_path / 'work',
                                   pretrained=None, scratch=False, num_train=128)
    assert len(built) == 1 + 3 * len(stages.FINETUNES)  # no scratch stages
    subsets = [s.config.train_dataloader.dataset.indices for s in built
               if s.name.startswith('seg_low_label')]
    for subset in subsets:
        assert len(subset) == 16 and len(set(subset)) == 16
        assert subset == sorted(subset) and 0 <= subset[0] and subset[-1] < 128
    assert len({tuple(subset) for subset in subsets}) == 3  # one subset per seed
    low = next(s for s in built if s.name.startswith('seg_low_label')).config
    assert low.train_cfg.max_iters == settings.seg_low_label_iters


def test_progress_lines():
    train = ('11/27 17:24:29 - mmengine - INFO - Epoch(train) [1][ 8/32]  lr: 6.8e-06  '
             'eta: 0:04:39  time: 1.6  loss: 4.8494  loss_rpn_cls: 0.6856')
    assert jobs.progress_line(train) == 'Epoch(train) [1][ 8/32]  eta 0:04:39  loss 4.8494'
    val = ('11/27 17:41:56 - mmengine - INFO - Iter(val) [4/4]    aAcc: 7.1600  '
           'mIoU: 1.5100  mAcc: 8.5500')
    assert jobs.progress_line(val) == 'Iter(val) [4/4]  mIoU 1.5100  mAcc 8.5500'
    assert jobs.progress_line('11/27 17:41:56 - mmengine - INFO - Iter(val) [3/4] eta: '
                              '0:00:01') is None
    assert jobs.progress_line('Config:') is None


def _write_scalars(work_dir: Path, *rows: dict) -> None:
    scalars = work_dir / '20260101_000000' / 'vis_data' / 'scalars.json'
    scalars.parent.mkdir(parents=True, exist_ok=True)
    scalars.write_text(''.join(json.dumps(row) + '\n' for row in rows))


def test_missing_coco_metrics_are_zero_with_a_note(tmp_path):
    det = results.METRICS['det']
    _write_scalars(tmp_path, {'loss': 4.0, 'step': 1}, {'data_time': 0.1, 'step': 1})
    notes = []
    metrics = results.read_metrics(tmp_path, det, notes, 'GTSA')
    assert metrics == {'bbox_mAP': 0.0, 'segm_mAP': 0.0}
    assert len(notes) == 2 and 'predicted nothing' in notes[0]
    _write_scalars(tmp_path, {'loss': 4.0, 'step': 1},
                   {'coco/bbox_mAP': 0.25, 'coco/segm_mAP': 0.125, 'step': 1})
    assert results.read_metrics(tmp_path, det, [], 'GTSA') == {
        'bbox_mAP': 0.25, 'segm_mAP': 0.125}


def test_collect_results_mean_and_std_over_seeds(tmp_path):
    settings = stages.default_settings(quick=True)
    built, _ = stages.build_stages(settings, tmp_path / 'data', tmp_path / 'work',
                                   pretrained=None, scratch=True, num_train=8)
    values = {}  # (init, seed) -> metrics
    for init in stages.INITS:
        for seed in settings.seeds:
            base = 0.1 * (seed + 1) + (0.5 if init == 'gtsa' else 0.0)
            values[init, seed] = base
            for stage in built:
                if stage.name.endswith(f'_{init}_seed{seed}'):
                    _write_scalars(stage.work_dir, {'coco/bbox_mAP': base,
                                                    'coco/segm_mAP': base / 2,
                                                    'mIoU': 100 * base, 'step': 4})
    out = results.collect_results(built, True, settings.seeds, notes=[])
    for init in stages.INITS:
        expected = [values[init, seed] for seed in settings.seeds]
        assert out[init]['runs']['bbox_mAP'] == expected
        assert out[init]['bbox_mAP'] == pytest.approx(sum(expected) / len(expected))
        assert out[init]['bbox_mAP_std'] == pytest.approx(0.05)  # (0.1, 0.2): ddof 0
        assert out[init]['mIoU_low_label'] == pytest.approx(100 * out[init]['bbox_mAP'])
        assert out[init]['seeds'] == list(settings.seeds)
    paired = results.paired_differences(out)
    assert paired['bbox_mAP']['runs'] == pytest.approx([0.5] * len(settings.seeds))
    assert paired['bbox_mAP']['std'] == pytest.approx(0.0)
    assert paired['bbox_mAP']['wins'] == len(settings.seeds)
    table = results.finetune_table(out).splitlines()
    assert table[-1].startswith('| GTSA - scratch, paired by seed | +0.500 ± 0.000 '
                                f'({len(settings.seeds)}/{len(settings.seeds)} seeds above) |')


def test_probe_table_pairs_the_seeds():
    row = dict(probe_linear_mIoU=9.0, probe_linear_mIoU_std=0.5, probe_nn_mIoU=14.0,
               probe_nn_mIoU_std=1.0, probe_effective_rank=20.0, probe_effective_rank_std=2.0,
               probe_runs=dict(probe_linear_mIoU=[8.5, 9.5], probe_nn_mIoU=[13.0, 15.0],
                               probe_effective_rank=[18.0, 22.0]))
    # random init: one seed above GTSA on NN retrieval, the other below
    scratch = dict(row, probe_linear_mIoU=7.0, probe_nn_mIoU=12.5,
                   probe_runs=dict(probe_linear_mIoU=[7.5, 6.5], probe_nn_mIoU=[13.5, 11.5],
                                   probe_effective_rank=[18.0, 22.0]))
    lines = results.probe_table({'gtsa': row, 'scratch': scratch}).splitlines()
    assert lines[2] == '| GTSA pretrained | 9.00 ± 0.50 | 14.00 ± 1.00 | 20.00 ± 2.00 |'
    # paired: linear +1 and +3, NN -0.5 and +3.5, rank 0 and 0
    assert lines[-1] == ('| GTSA - random, paired by seed | +2.00 ± 1.00 (2/2 seeds above) '
                         '| +1.50 ± 2.00 (1/2 seeds above) | +0.00 ± 0.00 (0/2 seeds above) |')
    assert results.paired_differences({'gtsa': row, 'scratch': None}) == {}


# ------------------------------------------------------------------------------ slow
def _is_real_number(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    work_dir, data_root = tmp_path / 'work', tmp_path / 'data'
    result = subprocess.run(
        [sys.executable, str(TOOLS / 'demo.py'), '--quick', '--work-dir', str(work_dir),
         '--data-root', str(data_root)], cwd=REPO, capture_output=True, text=True,
        timeout=END_TO_END_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert '| GTSA pretrained |' in result.stdout and '| random init |' in result.stdout

    out = json.loads((work_dir / 'results.json').read_text())
    metric_keys = {f'{k}{std}' for k in (*results.FINETUNE_KEYS, *results.PROBE_KEYS)
                   for std in ('', '_std')}
    assert {'bbox_mAP', 'segm_mAP', 'mIoU', 'mIoU_low_label', 'probe_linear_mIoU',
            'probe_nn_mIoU'} <= {k for k in metric_keys if not k.endswith('_std')}
    seeds = list(stages.QUICK_SEEDS)
    for init in stages.INITS:
        assert set(out[init]) == {*metric_keys, 'seeds', 'runs', 'probe_runs',
                                  'probe_label_fraction', 'probe_num_train'}
        assert out[init]['seeds'] == seeds
        for name in metric_keys:
            assert _is_real_number(out[init][name]), (init, name, out[init][name])
        for name, values in {**out[init]['runs'], **out[init]['probe_runs']}.items():
            assert len(values) == len(seeds) and all(map(_is_real_number, values)), name
        assert 0.0 <= out[init]['bbox_mAP'] <= 1.0
        assert 0.0 <= out[init]['mIoU'] <= 100.0
        assert 0.0 <= out[init]['mIoU_low_label'] <= 100.0
        assert 0.0 <= out[init]['probe_nn_mIoU'] <= 100.0
        assert out[init]['probe_effective_rank'] > 0
    # GTSA - scratch paired by seed, for every per-seed number
    assert set(out['differences']) == {*results.FINETUNE_KEYS, *results.PROBE_KEYS}
    for name, difference in out['differences'].items():
        expected = [a - b for a, b in zip(out['gtsa'].get('runs', {}).get(name)
                                          or out['gtsa']['probe_runs'][name],
                                          out['scratch'].get('runs', {}).get(name)
                                          or out['scratch']['probe_runs'][name])]
        assert difference['runs'] == pytest.approx(expected), name
        assert _is_real_number(difference['mean']) and _is_real_number(difference['std'])
        assert difference['wins'] == sum(d > 0 for d in expected)
    assert 'fraction' in out['units'] and 'percentage' in out['units']
    assert isinstance(out['notes'], list)
    timed = ['data', 'pretrain', 'probes', 'figures', 'total'] + [
        f'{kind}_{init}_seed{seed}' for kind in stages.FINETUNES for init in stages.INITS
        for seed in seeds]
    assert all(_is_real_number(out['timings_s'][s]) for s in timed)
    assert out['settings']['quick'] is True
    for name in ('pretrain_losses.png', 'features/pca.png',
                 'features/correspondences_GTSA_teacher.png', 'features/attention_random_init.png',
                 'seg_predictions.png', 'det_predictions.png'):
        png = work_dir / name
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', name
        assert str(png) in out['figures']
    table = (work_dir / 'results.md').read_text()
    assert table.startswith('| backbone init |')
    assert '| GTSA - random, paired by seed |' in table
    assert '| GTSA - scratch, paired by seed |' in table


@pytest.mark.parametrize('meta,regenerates', [
    (dict(version=mdd.GENERATOR_VERSION, config=dict(class_colours=False)), False),
    (dict(version='1.0.0', config=dict()), True),  # class-coloured data of generator 1.0
    (dict(version=mdd.GENERATOR_VERSION, config=dict(class_colours=True)), True),
    (dict(version=mdd.GENERATOR_VERSION, config=dict(object_scale=1.6)), True),  # other sizes
])
def test_data_of_another_generator_is_regenerated(tmp_path, monkeypatch, meta, regenerates):
    counts = dict(pretrain=10**4, train=10**4, val=10**4)
    (tmp_path / 'meta.json').write_text(json.dumps(dict(meta, complete=True,
                                                        num_images=counts)))
    calls = []
    monkeypatch.setattr('gtsa_mm_lab.demo_data.cli.main', lambda argv: calls.append(argv) or 0)
    said = []
    assert cli.ensure_data(tmp_path, cli.QUICK_DATA_FLAGS, say=said.append) is regenerates
    assert len(calls) == int(regenerates)
    if regenerates:
        assert calls[0][:2] == ['--out', str(tmp_path)]
        assert any('regenerating' in line for line in said)
