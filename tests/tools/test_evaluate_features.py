"""Tests of tools/evaluate_features.py (a command line over gtsa_mm.evaluation) on a real
one-epoch tiny pretraining checkpoint and tiny generated demo data."""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from gtsa_test_utils import run_tool

from gtsa_mm.evaluation import (
    DenseProbeSettings,
    evaluate_checkpoints,
    json_safe,
    load_probe_data,
    markdown_table,
)


def evaluate_features(*args: str) -> subprocess.CompletedProcess:
    return run_tool('evaluate_features.py', *args)


@pytest.fixture(scope='module')
def demo_and_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """Tiny demo data and a real GTSA Runner checkpoint: one epoch on its pretrain images."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from pretrain_helpers import tiny_pretrain_cfg

    import gtsa_mm  # noqa: F401

    root = tmp_path_factory.mktemp('probe')
    demo = root / 'demo'
    run_tool('make_demo_data.py', '--out', str(demo), '--num-pretrain', '4', '--num-train',
             '6', '--num-val', '3', '--image-size', '96', '--quiet', check=True)
    cfg = tiny_pretrain_cfg(root / 'work', demo / 'pretrain', max_epochs=1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        Runner.from_cfg(cfg).train()
    return demo, root / 'work' / 'epoch_1.pth'


def test_help():
    out = evaluate_features('--help')
    assert out.returncode == 0
    for option in ('--data-root', '--teacher', '--config', '--label-fraction', '--subsets',
                   '--nn-k', '--bank-size', '--probes', '--device', '--out'):
        assert option in out.stdout


def test_bad_arguments_name_what_to_do(tmp_path, demo_and_checkpoint):
    demo, checkpoint = demo_and_checkpoint
    out = evaluate_features('random')
    assert out.returncode == 2 and '--config or --arch' in out.stderr
    out = evaluate_features(str(tmp_path / 'missing.pth'))
    assert out.returncode == 2 and 'checkpoint not found' in out.stderr
    out = evaluate_features(str(checkpoint), '--subsets', '3')
    assert out.returncode == 2 and '--label-fraction' in out.stderr
    out = evaluate_features(str(checkpoint), '--data-root', str(tmp_path))
    assert out.returncode == 2 and 'no *.jpg images in' in out.stderr
    assert f'--data-root {tmp_path}:' in out.stderr  # the flag to change
    out = evaluate_features(str(checkpoint), '--data-root', str(tmp_path / 'nowhere'))
    assert out.returncode == 2 and 'does not exist' in out.stderr
    assert f'--data-root {tmp_path / "nowhere"}:' in out.stderr


def test_tool_on_tiny_checkpoint_and_random(demo_and_checkpoint, tmp_path):
    demo, checkpoint = demo_and_checkpoint
    out_json = tmp_path / 'probes.json'
    out = evaluate_features(str(checkpoint), 'random', '--data-root', str(demo / 'ade'),
                            '--out', str(out_json))
    assert out.returncode == 0, out.stderr
    assert '| backbone | linear mIoU | NN mIoU |' in out.stdout and '| random |' in out.stdout
    results = json.loads(out_json.read_text())
    assert [r['prefix'] for r in results] == ['backbone.', None]
    for r in results:
        assert r['grid'] == [8, 8] and r['img_size'] == 64  # the config's 64 px, patch 8
        for key in ('linear_mIoU', 'nn_mIoU', 'pos_acc', 'rot_acc', 'linear_aAcc'):
            assert 0 <= r[key] <= 100, (key, r[key])
        assert 0 < r['feature_effective_rank'] <= r['feature_dims']


def test_library_results_are_deterministic_and_read_the_teacher(demo_and_checkpoint):
    demo, checkpoint = demo_and_checkpoint
    data = load_probe_data(demo / 'ade')
    assert data.num_classes == 8 and data.class_names is not None  # from the demo's meta.json
    first = evaluate_checkpoints([str(checkpoint)], data)[0]
    again = evaluate_checkpoints([str(checkpoint)], data)[0]
    for key in ('linear_mIoU', 'nn_mIoU', 'pos_acc', 'rot_acc', 'feature_effective_rank'):
        assert first[key] == again[key]
    teacher = evaluate_checkpoints([str(checkpoint)], data, teacher=True)[0]
    assert teacher['prefix'] == 'target_net.module.0.'


def test_label_subsets_give_mean_and_spread(demo_and_checkpoint):
    demo, checkpoint = demo_and_checkpoint
    data = load_probe_data(demo / 'ade')
    result = evaluate_checkpoints(
        [str(checkpoint)], data, DenseProbeSettings(probes=('linear', 'nn'),
                                                    label_fraction=0.5),
        subset_seeds=range(3))[0]
    assert result['subset_seeds'] == [0, 1, 2] and len(result['runs']) == 3
    assert result['num_train'] == 3
    values = [r['nn_mIoU'] for r in result['runs']]
    assert result['nn_mIoU'] == pytest.approx(sum(values) / 3)
    assert result['nn_mIoU_std'] >= 0 and math.isfinite(result['linear_mIoU_std'])


def test_table_and_json_handle_missing_numbers():
    row = dict(name='x', linear_mIoU=float('nan'), nn_mIoU=50.0, nn_mIoU_std=1.5,
               pos_acc=None, rot_acc=100.0, linear_IoU=[50.0, float('nan')],
               pos_chance=12.5, img_size=64, grid=[8, 8], feature_dims=128)
    assert '| x | n/a | 50.00 ± 1.50 | n/a | 100.00 | n/a | n/a |' in markdown_table([row])
    assert json.loads(json.dumps(json_safe([row])))[0]['linear_IoU'] == [50.0, None]
