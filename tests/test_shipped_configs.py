"""The shipped configs are found in a checkout (``configs/``) and in an installed wheel
(``gtsa_mm/.mim/configs``), by the architecture error and the checkpoint converter alike."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import gtsa_mm.shipped_configs as shipped
from gtsa_mm.downstream import ViTArchitecture, configs_for_architecture
from gtsa_mm.downstream.convert import PAPER_CONFIG, convert_authors_gtsa
from gtsa_mm.shipped_configs import configs_dir

REPO = Path(__file__).resolve().parents[1]
DEMO_VIT = ViTArchitecture(depth=4, width=128, patch_size=8, mlp_width=512)


def installed_package(site: Path) -> Path:
    """``site/gtsa_mm`` as a wheel installs it: the configs in ``.mim/configs`` only, and
    another distribution's ``configs/`` folder beside it in site-packages."""
    package = site / 'gtsa_mm'
    shutil.copytree(REPO / 'configs', package / '.mim' / 'configs',
                    ignore=shutil.ignore_patterns('__pycache__'))
    (site / 'configs' / 'other_package').mkdir(parents=True)
    return package


def test_checkout_finds_the_repository_configs():
    assert configs_dir() == REPO / 'configs'
    assert 'configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py' in \
        configs_for_architecture(DEMO_VIT)


def test_installed_package_finds_the_mim_configs(tmp_path, monkeypatch):
    package = installed_package(tmp_path / 'site-packages')
    monkeypatch.setattr(shipped, 'PACKAGE_DIR', package)
    mim = package / '.mim' / 'configs'
    assert configs_dir() == mim
    configs = configs_for_architecture(DEMO_VIT)
    assert str(mim / 'mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py') in configs
    assert str(mim / 'mmseg/upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py') in configs


def test_converter_default_config_comes_from_the_installed_package(tmp_path, monkeypatch):
    package = installed_package(tmp_path / 'site-packages')
    paper = package / '.mim' / 'configs' / PAPER_CONFIG
    paper.write_text(paper.read_text() + "\nshipped_copy = 'wheel'\n")
    monkeypatch.setattr(shipped, 'PACKAGE_DIR', package)
    converted = convert_authors_gtsa(dict(model={}, epoch=99), 'checkpoint-99.pth')
    assert "shipped_copy = 'wheel'" in converted['meta']['cfg']
    assert converted['meta']['config'] == Path(PAPER_CONFIG).name


def test_no_configs_anywhere_is_said(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, 'PACKAGE_DIR', tmp_path / 'site-packages' / 'gtsa_mm')
    with pytest.raises(FileNotFoundError, match=r'\.mim/configs'):
        configs_dir()
    assert configs_for_architecture(DEMO_VIT) == []


PRETRAIN_CONFIGS = sorted(p for folder in ('gtsa', 'dino')
                          for p in (REPO / 'configs' / folder).glob('*.py'))


@pytest.mark.parametrize('config', PRETRAIN_CONFIGS, ids=lambda p: p.name)
def test_every_pretraining_config_keeps_the_reliability_hooks(config):
    """A config whose custom_hooks list replaces its base's (the demo's adds the probes)
    still stops on a non-finite loss and saves on preemption."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(config))
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert 'PreemptionHook' in hooks and 'NonFiniteLossHook' in hooks, hooks
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
