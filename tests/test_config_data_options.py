"""The data options of every shipped config: ``num_workers=0`` alone builds working
dataloaders, and ``GTSA_DEMO_DATA`` moves every path of the demo configs (datasets, the
Mask R-CNN evaluators and the dense probes) at once."""
from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest
from gtsa_test_utils import tiny_demo_data

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)
#: The configs of the CPU demo, on tools/make_demo_data.py's data/demo/.
DEMO = ['configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py',
        'configs/dino/dino_vit-tiny-p8_1xb32-coslr-24e_demo.py',
        'configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py',
        'configs/mmdet/mask-rcnn_r18_fpn_1xb4-8e_demo.py',
        'configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py',
        'configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-300i_demo-128x128-1of8.py']
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def load(config: str, **options):
    """``config`` as a tool reads it, with ``--cfg-options``-style ``options``."""
    from mmengine.config import Config

    import gtsa_mm  # noqa: F401
    from gtsa_mm.registry import drop_collate_fn_scope

    cfg = Config.fromfile(str(REPO / config))
    if options:
        cfg.merge_from_dict(options)
    drop_collate_fn_scope(cfg)
    return cfg


@functools.cache
def _load_once(config: str):
    return load(config)


def load_cached(config: str, **options):
    """:func:`load` without the environment's GTSA_DEMO_DATA, each config read once."""
    cfg = copy.deepcopy(_load_once(config))
    if options:
        cfg.merge_from_dict(options)
    return cfg


@pytest.fixture(autouse=True)
def no_demo_data_variable(monkeypatch):
    """The configs' defaults, whatever the environment says."""
    monkeypatch.delenv('GTSA_DEMO_DATA', raising=False)


class FourImages:
    """A stand-in dataset: 4 samples of 8 x 8 px (what samplers and batch samplers read)."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index) -> int:
        return 0

    def get_data_info(self, index) -> dict:
        return dict(width=8, height=8)


@pytest.mark.parametrize('config', SHIPPED)
def test_the_demo_configs_are_the_ones_reading_the_demo_data(config):
    reads_demo_data = any(s.startswith('data/demo/')
                          for s in _strings(_load_once(config)._cfg_dict))
    assert reads_demo_data == (config in DEMO)


@pytest.mark.parametrize('config', SHIPPED)
def test_num_workers_zero_alone_builds_every_dataloader(config):
    """`--cfg-options <loader>.num_workers=0` needs no persistent_workers=False beside it."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    loaders = [name for name in LOADERS if name in _load_once(config)]
    assert 'train_dataloader' in loaders
    cfg = load_cached(config, **{f'{name}.num_workers': 0 for name in loaders})
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        for name in loaders:
            loader_cfg = cfg[name]
            loader_cfg.dataset = FourImages()  # the paper data sets are not here
            if loader_cfg.get('batch_size', 1) > 4:
                loader_cfg.batch_size = 2
            loader = Runner.build_dataloader(loader_cfg, seed=0)
            assert loader.num_workers == 0 and not loader.persistent_workers
            next(iter(loader))


def test_loaders_with_workers_keep_persistent_workers():
    from mmengine.runner import Runner

    from gtsa_mm.engine.dataloader_workers import without_idle_persistent_workers

    cfg = dict(num_workers=1, persistent_workers=True, batch_size=2, dataset=FourImages(),
               sampler=dict(type='DefaultSampler', shuffle=False))
    assert without_idle_persistent_workers(cfg) is cfg
    loader = Runner.build_dataloader(cfg, seed=0)
    assert loader.persistent_workers
    no_workers = without_idle_persistent_workers(dict(cfg, num_workers=0))
    assert no_workers['persistent_workers'] is False and cfg['persistent_workers'] is True


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize('config', DEMO)
def test_one_environment_variable_moves_all_demo_data(config, monkeypatch):
    default = _load_once(config)
    assert any('data/demo/' in s for s in _strings(default._cfg_dict.to_dict()))
    monkeypatch.setenv('GTSA_DEMO_DATA', '/elsewhere')
    moved = load(config)
    strings = list(_strings(moved._cfg_dict.to_dict()))
    assert not any('data/demo' in s for s in strings), [s for s in strings if 'data/demo' in s]
    for name in LOADERS:
        if name in moved:
            assert moved[name].dataset.data_root.startswith('/elsewhere/'), name
    if 'val_evaluator' in moved and 'ann_file' in moved.val_evaluator:
        assert moved.val_evaluator.ann_file == '/elsewhere/coco/annotations/instances_val.json'
        assert moved.test_evaluator.ann_file == moved.val_evaluator.ann_file
    if moved.model.type in ('GTSA', 'DINO'):
        assert moved.probe_data_root == '/elsewhere/ade/'
        probe = next(h for h in moved.custom_hooks if h.type == 'DenseProbeHook')
        assert 'data_root' not in probe  # it reads probe_data_root


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory) -> Path:
    return tiny_demo_data(tmp_path_factory.mktemp('moved') / 'demo', 2, 3, 2, size=64)


def test_mask_rcnn_demo_reads_moved_data_and_annotations(demo_data, monkeypatch):
    """Datasets and the COCO evaluators of the demo Mask R-CNN follow GTSA_DEMO_DATA."""
    from mmdet.registry import DATASETS, METRICS
    from mmengine.registry import DefaultScope

    monkeypatch.setenv('GTSA_DEMO_DATA', str(demo_data))
    cfg = load('configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py')
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert len(DATASETS.build(cfg.train_dataloader.dataset)) == 3
        assert len(DATASETS.build(cfg.val_dataloader.dataset)) == 2
        metric = METRICS.build(cfg.val_evaluator)
        assert len(metric._coco_api.getImgIds()) == 2  # read from the moved annotations


def test_upernet_demo_reads_moved_data(demo_data, monkeypatch):
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS

    monkeypatch.setenv('GTSA_DEMO_DATA', str(demo_data))
    cfg = load('configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py')
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert len(DATASETS.build(cfg.train_dataloader.dataset)) == 3
        assert len(DATASETS.build(cfg.test_dataloader.dataset)) == 2
