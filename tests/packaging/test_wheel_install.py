"""The wheel as a user installs it: configs inheritable as ``gtsa_mm::...`` from a folder
outside the repository, and ``mim train gtsa_mm CONFIG`` runs the shipped tools/train.py."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from gtsa_test_utils import TOOL_TIMEOUT_S

REPO = Path(__file__).resolve().parents[2]
# What the sdist holds (MANIFEST.in) and the wheel is built from.
SOURCE_ENTRIES = ('pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml',
                  'requirements.txt', 'gtsa_mm', 'configs', 'tools')
PAPER_CONFIG = 'gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'

# A user's config: the paper recipe from the installed package, shrunk to a 2-block ViT
# on 64/32 px crops, 4 images, batch 2, 1 epoch = 2 iterations, fp32 on CPU.
USER_CONFIG = f"""
_base_ = 'gtsa_mm::{PAPER_CONFIG}'

model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2,
                            feedforward_channels=64),
                  img_size=64, patch_size=8, drop_path_rate=0.),
    neck=dict(in_channels=32, out_channels=48),
    head=dict(predictor=dict(in_channels=48, hidden_channels=48, out_channels=48),
              rotation_head=dict(in_channels=32, hidden_channels=32, bottleneck_channels=16),
              patch_loss=dict(warmup_epochs=0), region_sizes=(6, 3)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='GTSAMultiCrop', global_size=64, local_size=32, num_global=2, num_local=2),
    dict(type='PackInputs', algorithm_keys=['crop_boxes', 'rotation_label',
         'global_region_boxes', 'view_region_boxes']),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        pin_memory=False,
                        dataset=dict(data_root='{{data_root}}', pipeline=train_pipeline))
optim_wrapper = dict(_delete_=True, type='PerParameterClipOptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.04),
                     clip_grad=dict(type='per_parameter_norm', max_norm=3.0))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
"""


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / 'source'
    source.mkdir()
    for name in SOURCE_ENTRIES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copy2(path, source / name)
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '--no-build-isolation', '--disable-pip-version-check', str(source),
                    '-w', str(tmp_path / 'dist')], check=True, capture_output=True, text=True)
    (wheel,) = (tmp_path / 'dist').glob('gtsa_mm-*.whl')
    return wheel


@pytest.mark.slow
def test_wheel_ships_configs_and_trains_a_user_config_outside_the_repository(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert f'gtsa_mm/.mim/configs/{PAPER_CONFIG}' in names
    assert 'gtsa_mm/.mim/tools/train.py' in names
    assert 'gtsa_mm/.mim/model-index.yml' in names
    assert not any('__pycache__' in name or name.startswith('tests/') for name in names)
    # the lab tooling stays in the repository: no gtsa_mm_lab, nor the tools that import it
    assert not any(name.startswith(('gtsa_mm_lab/', 'gtsa_mm/demo', 'gtsa_mm/benchmark'))
                   for name in names)
    assert 'gtsa_mm/.mim/tools/demo.py' not in names
    with zipfile.ZipFile(wheel) as archive:  # no shipped tool imports the lab package
        assert not [n for n in names if n.startswith('gtsa_mm/.mim/tools/')
                    and b'gtsa_mm_lab' in archive.read(n)]
    assert 'gtsa_mm/.mim/tools/convert_checkpoint.py' in names
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith('Requires-Dist:')]
    assert any('mmengine' in line for line in requires)
    assert any('mmpretrain' in line for line in requires)
    assert any('mmdet' in line and 'extra == "det"' in line for line in requires)
    assert any('mmsegmentation' in line and 'extra == "seg"' in line for line in requires)
    assert not any(line.split()[1].startswith('torch') for line in requires)

    # A scratch environment over the stack: the stack's site-packages, plus the wheel
    # installed (not editable) into a target folder ahead of it on sys.path.
    site = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
                    '--disable-pip-version-check', '--target', str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    user = tmp_path / 'user'
    data = user / 'photos'
    data.mkdir(parents=True)
    import cv2
    import numpy as np
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(data / f'{i}.jpg'), rng.integers(0, 256, (80, 96, 3), np.uint8))
    config = user / 'my_gtsa.py'
    config.write_text(USER_CONFIG.replace('{data_root}', str(data)))
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1')

    where = subprocess.run(
        [sys.executable, '-c', 'import gtsa_mm, sys; from mmengine.config import Config; '
         'cfg = Config.fromfile(sys.argv[1]); print(gtsa_mm.__file__); '
         'print(cfg.model.backbone.arch.embed_dims, cfg.model.head.region_loss.type)', str(config)],
        cwd=user, env=env, capture_output=True, text=True, check=True)
    package_file, *values = where.stdout.split()
    assert Path(package_file).is_relative_to(site), where.stdout  # the wheel, not the repo
    assert values == ['32', 'RegionLoss'], where.stdout

    mim = Path(sys.executable).with_name('mim')
    work_dir = user / 'work_dir'
    proc = subprocess.run(
        [str(mim), 'train', 'gtsa_mm', str(config), '--work-dir', str(work_dir)],
        cwd=user, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # mim ran the wheel's own copy of tools/train.py
    assert str(site / 'gtsa_mm' / '.mim' / 'tools' / 'train.py') in proc.stdout + proc.stderr
    assert (work_dir / 'epoch_1.pth').is_file()
    logs = '\n'.join(p.read_text() for p in work_dir.glob('*/*.log'))
    assert 'Iter(train) [2/2]' in logs or 'Epoch(train) [1][2/2]' in logs, logs[-2000:]
