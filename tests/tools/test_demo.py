"""Tests of tools/demo.py and the demo configs.

The fast tests load and build the three demo configs and check the stage configs the
demo derives from them; the slow one runs ``tools/demo.py --quick`` end to end (data,
pretraining, four fine-tunes with evaluation, pictures) in a temporary folder.
"""
from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / 'tools'


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return sys.modules[name]


demo = _load_tool('demo')
mdd = _load_tool('make_demo_data')


@pytest.fixture(scope='module')
def demo_meta(tmp_path_factory) -> dict:
    """meta.json of a tiny data set written by tools/make_demo_data.py."""
    out = tmp_path_factory.mktemp('demo_data')
    assert mdd.main(['--out', str(out), '--num-pretrain', '1', '--num-train', '1',
                     '--num-val', '1', '--image-size', '64', '--quiet']) == 0
    return json.loads((out / 'meta.json').read_text())


def _config(path: Path):
    from mmengine.config import Config
    return Config.fromfile(str(path))


# ------------------------------------------------------------------------------ fast
def test_help_as_a_script():
    result = subprocess.run([sys.executable, str(TOOLS / 'demo.py'), '--help'],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for flag in ('--work-dir', '--data-root', '--quick', '--skip-scratch', '--pretrained',
                 '--jobs'):
        assert flag in result.stdout


def test_config_files_exist_and_inherit_the_shipped_ones():
    shipped = {demo.PRETRAIN_CONFIG: 'gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py',
               demo.DET_CONFIG: 'mask-rcnn_vit-small-p16-gtsa_fpn_1x_coco.py',
               demo.SEG_CONFIG: 'upernet_vit-small-p16-gtsa_8xb2-160k_ade20k-512x512.py'}
    for path, base in shipped.items():
        assert path.is_file(), path
        assert f"_base_ = './{base}'" in path.read_text()


@pytest.mark.parametrize('path', ['DET_CONFIG', 'SEG_CONFIG'])
def test_classes_equal_meta_json(path, demo_meta):
    cfg = _config(getattr(demo, path))
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

    cfg = _config(demo.PRETRAIN_CONFIG)
    assert cfg.optim_wrapper.type == 'PerParameterClipOptimWrapper'  # no AMP on a CPU
    assert cfg.optim_wrapper.clip_grad == dict(type='per_parameter_norm', max_norm=3.0)
    assert cfg.model.patch_loss_warmup_epochs < cfg.train_cfg.max_epochs
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    crop = cfg.train_dataloader.dataset.pipeline[1]
    # region sizes fit the global / local token maps
    assert model.region_sizes[0] <= crop.global_size // model.patch_size
    assert model.region_sizes[1] <= crop.local_size // model.patch_size


@pytest.mark.parametrize('path', ['DET_CONFIG', 'SEG_CONFIG'])
def test_downstream_configs_build_with_the_pretraining_backbone(path):
    from mmengine.registry import DefaultScope, init_default_scope

    import gtsa_mm  # noqa: F401

    pretrain = _config(demo.PRETRAIN_CONFIG).model.backbone
    cfg = _config(getattr(demo, path))
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
    settings = demo.default_settings(quick=True)
    stages, checkpoint = demo.build_stages(settings, tmp_path / 'data', tmp_path / 'work',
                                           pretrained=None, scratch=True)
    by_name = {s.name: s for s in stages}
    assert list(by_name) == ['pretrain', 'det_gtsa', 'seg_gtsa', 'det_scratch', 'seg_scratch']
    assert checkpoint == tmp_path / 'work' / 'pretrain' / 'epoch_1.pth'
    for init in ('gtsa', 'scratch'):
        det, seg = by_name[f'det_{init}'].config, by_name[f'seg_{init}'].config
        if init == 'gtsa':
            assert det.model.backbone.init_cfg.checkpoint == str(checkpoint)
            assert seg.model.backbone.init_cfg.checkpoint == str(checkpoint)
            assert by_name[f'det_{init}'].needs == ('pretrain',)
        else:
            assert det.model.backbone.init_cfg is None and seg.model.backbone.init_cfg is None
            assert by_name[f'det_{init}'].needs == ()
        assert det.val_evaluator.ann_file == str(
            tmp_path / 'data' / 'coco' / 'annotations' / 'instances_val.json')
        assert seg.train_dataloader.dataset.data_root == str(tmp_path / 'data' / 'ade')
        assert det.train_cfg.max_epochs == 1 and seg.train_cfg.max_iters == 4
    pretrain = by_name['pretrain'].config
    assert pretrain.train_dataloader.dataset.data_root == str(tmp_path / 'data' / 'pretrain')
    assert pretrain.train_cfg.max_epochs == 1
    assert pretrain.model.patch_loss_warmup_epochs == 0


def test_progress_lines():
    train = ('11/27 17:24:29 - mmengine - INFO - Epoch(train) [1][ 8/32]  lr: 6.8e-06  '
             'eta: 0:04:39  time: 1.6  loss: 4.8494  loss_rpn_cls: 0.6856')
    assert demo.progress_line(train) == 'Epoch(train) [1][ 8/32]  eta 0:04:39  loss 4.8494'
    val = ('11/27 17:41:56 - mmengine - INFO - Iter(val) [4/4]    aAcc: 7.1600  '
           'mIoU: 1.5100  mAcc: 8.5500')
    assert demo.progress_line(val) == 'Iter(val) [4/4]  mIoU 1.5100  mAcc 8.5500'
    assert demo.progress_line('11/27 17:41:56 - mmengine - INFO - Iter(val) [3/4] eta: '
                              '0:00:01') is None
    assert demo.progress_line('Config:') is None


def test_missing_coco_metrics_are_zero_with_a_note(tmp_path):
    scalars = tmp_path / '20260101_000000' / 'vis_data' / 'scalars.json'
    scalars.parent.mkdir(parents=True)
    scalars.write_text(json.dumps({'loss': 4.0, 'step': 1}) + '\n'
                       + json.dumps({'data_time': 0.1, 'step': 1}) + '\n')
    notes = []
    metrics = demo.read_metrics(tmp_path, ('bbox_mAP', 'segm_mAP'), notes, 'GTSA')
    assert metrics == {'bbox_mAP': 0.0, 'segm_mAP': 0.0}
    assert len(notes) == 2 and 'predicted nothing' in notes[0]
    scalars.write_text(scalars.read_text() + json.dumps(
        {'coco/bbox_mAP': 0.25, 'coco/segm_mAP': 0.125, 'step': 1}) + '\n')
    assert demo.read_metrics(tmp_path, ('bbox_mAP', 'segm_mAP'), [], 'GTSA') == {
        'bbox_mAP': 0.25, 'segm_mAP': 0.125}


def test_markdown_table():
    table = demo.markdown_table({'gtsa': dict(bbox_mAP=0.1, segm_mAP=0.05, mIoU=40.0),
                                 'scratch': dict(bbox_mAP=0.05, segm_mAP=0.0, mIoU=30.5)})
    assert table.splitlines()[-1] == '| GTSA - scratch | +0.050 | +0.050 | +9.50 |'


def test_probe_table():
    row = dict(probe_linear_mIoU=9.0, probe_linear_mIoU_std=0.5, probe_nn_mIoU=14.0,
               probe_nn_mIoU_std=1.0, probe_effective_rank=20.0, probe_effective_rank_std=2.0)
    scratch = dict(row, probe_linear_mIoU=7.0, probe_nn_mIoU=12.5)
    lines = demo.probe_table({'gtsa': row, 'scratch': scratch}).splitlines()
    assert lines[2] == '| GTSA pretrained | 9.00 ± 0.50 | 14.00 ± 1.00 | 20.00 ± 2.00 |'
    assert lines[-1].startswith('| GTSA - random | +2.00 (spreads 0.50 / 0.50) | +1.50')


# ------------------------------------------------------------------------------ slow
def _is_real_number(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    work_dir, data_root = tmp_path / 'work', tmp_path / 'data'
    result = subprocess.run(
        [sys.executable, str(TOOLS / 'demo.py'), '--quick', '--work-dir', str(work_dir),
         '--data-root', str(data_root)], cwd=REPO, capture_output=True, text=True,
        timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert '| GTSA pretrained |' in result.stdout and '| random (scratch) |' in result.stdout

    results = json.loads((work_dir / 'results.json').read_text())
    probe_keys = {f'{k}{std}' for k in demo.PROBE_KEYS for std in ('', '_std')}
    for init in ('gtsa', 'scratch'):
        assert set(results[init]) == {'bbox_mAP', 'segm_mAP', 'mIoU', *probe_keys, 'seeds',
                                      'probe_label_fraction', 'probe_num_train'}
        assert results[init]['seeds'] == list(demo.PROBE_SEEDS)
        for name in {'bbox_mAP', 'segm_mAP', 'mIoU', *probe_keys}:
            assert _is_real_number(results[init][name]), (init, name, results[init][name])
        assert 0.0 <= results[init]['bbox_mAP'] <= 1.0
        assert 0.0 <= results[init]['mIoU'] <= 100.0
        assert 0.0 <= results[init]['probe_nn_mIoU'] <= 100.0
        assert results[init]['probe_effective_rank'] > 0
    assert 'fraction' in results['units'] and 'percentage' in results['units']
    assert isinstance(results['notes'], list)
    stages = ('data', 'pretrain', 'det_gtsa', 'seg_gtsa', 'det_scratch', 'seg_scratch',
              'probes', 'figures', 'total')
    assert all(_is_real_number(results['timings_s'][s]) for s in stages)
    assert results['settings']['quick'] is True
    for name in ('pretrain_losses.png', 'pca_features.png', 'seg_predictions.png'):
        png = work_dir / name
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', name
        assert str(png) in results['figures']
    table = (work_dir / 'results.md').read_text()
    assert table.startswith('| backbone init |') and '| GTSA - random |' in table


class _FakeGenerator:
    GENERATOR_VERSION = mdd.GENERATOR_VERSION

    def __init__(self):
        self.calls = []

    def main(self, argv):
        self.calls.append(argv)
        return 0


@pytest.mark.parametrize('meta,regenerates', [
    (dict(version=mdd.GENERATOR_VERSION, config=dict(class_colours=False)), False),
    (dict(version='1.0.0', config=dict()), True),  # class-coloured data of generator 1.0
    (dict(version=mdd.GENERATOR_VERSION, config=dict(class_colours=True)), True),
])
def test_data_of_another_generator_is_regenerated(tmp_path, monkeypatch, meta, regenerates):
    counts = dict(pretrain=10**4, train=10**4, val=10**4)
    (tmp_path / 'meta.json').write_text(json.dumps(dict(meta, complete=True,
                                                        num_images=counts)))
    fake = _FakeGenerator()
    monkeypatch.setattr(demo, '_load_make_demo_data', lambda: fake)
    said = []
    assert demo.ensure_data(tmp_path, quick=True, say=said.append) is regenerates
    assert len(fake.calls) == int(regenerates)
    if regenerates:
        assert fake.calls[0][:2] == ['--out', str(tmp_path)]
        assert any('regenerating' in line for line in said)
