"""Tests of tools/evaluate_features.py: the probes on hand-made features, and the tool on a
real one-epoch tiny pretraining checkpoint and tiny generated demo data."""
from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'evaluate_features.py'
_spec = importlib.util.spec_from_file_location('evaluate_features', TOOL)
ef = importlib.util.module_from_spec(_spec)
sys.modules.setdefault('evaluate_features', ef)  # dataclasses look their module up by name
_spec.loader.exec_module(ef)


def tiny_demo_data(root: Path) -> Path:
    """make_demo_data.py with a handful of small images."""
    out = root / 'demo'
    subprocess.run([sys.executable, str(REPO / 'tools' / 'make_demo_data.py'), '--out',
                    str(out), '--num-pretrain', '4', '--num-train', '6', '--num-val', '3',
                    '--image-size', '96', '--quiet'], check=True)
    return out


@pytest.fixture(scope='module')
def demo_and_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """Tiny demo data and a real GTSA Runner checkpoint: one epoch on its pretrain images."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from pretrain_helpers import tiny_pretrain_cfg

    import gtsa_mm  # noqa: F401

    root = tmp_path_factory.mktemp('probe')
    demo = tiny_demo_data(root)
    cfg = tiny_pretrain_cfg(root / 'work', demo / 'pretrain', max_epochs=1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        Runner.from_cfg(cfg).train()
    return demo, root / 'work' / 'epoch_1.pth'


def test_help():
    out = subprocess.run([sys.executable, str(TOOL), '--help'], capture_output=True,
                         text=True, check=True).stdout
    for option in ('--data-root', '--teacher', '--config', '--device', '--out'):
        assert option in out


def test_mean_iou_hand_computed():
    gt = np.array([[0, 1, 1, 2]])
    pred = np.array([[2, 1, 2, 2]])  # the ignored pixel's prediction does not count
    miou, acc, iou = ef.mean_iou(pred, gt, num_classes=3)
    assert iou[0] == pytest.approx(1 / 2) and iou[1] == pytest.approx(1 / 2)
    assert math.isnan(iou[2])  # class 3: in neither map, left out of the mean
    assert miou == pytest.approx(1 / 2) and acc == pytest.approx(2 / 3)


def test_patch_majority_labels():
    labels = np.zeros((1, 4, 4), np.uint8)
    labels[0, :2, :2] = [[3, 3], [3, 0]]
    labels[0, 2:, 2:] = 1
    out = ef.patch_majority_labels(labels, (2, 2), num_classes=3)
    np.testing.assert_array_equal(out[0], [[3, 0], [0, 1]])


def _position_features(n: int, side: int, dims: int, noise: float, seed: int) -> torch.Tensor:
    """Tokens holding a one-hot code of their row and column, plus noise."""
    g = torch.Generator().manual_seed(seed)
    feats = noise * torch.randn(n, dims, side, side, generator=g)
    for i in range(side):
        feats[:, i, i, :] += 1
        feats[:, side + i, :, i] += 1
    return feats


def test_position_probe_separates_position_from_noise():
    side, dims = 6, 16
    g = torch.Generator().manual_seed(0)
    noise = ef.position_probe(torch.randn(20, dims, side, side, generator=g),
                              torch.randn(5, dims, side, side, generator=g))
    coded = ef.position_probe(_position_features(20, side, dims, 0.2, 0),
                              _position_features(5, side, dims, 0.2, 1))
    assert noise['pos_chance'] == pytest.approx(1 / side)
    assert noise['pos_acc'] < 0.35
    assert coded['pos_acc'] > 0.9


def test_rotation_probe_separates_turns_from_noise():
    g = torch.Generator().manual_seed(0)
    turns = torch.arange(4).repeat(10)
    coded = torch.nn.functional.one_hot(turns, 8).float() + 0.2 * torch.randn(40, 8, generator=g)
    assert ef.rotation_probe(coded, turns, coded.flip(0), turns.flip(0))['rot_acc'] == 1.0
    noise = ef.rotation_probe(torch.randn(40, 8, generator=g), turns,
                              torch.randn(40, 8, generator=g), turns)['rot_acc']
    assert noise < 0.6


def test_random_alone_needs_config(capsys):
    with pytest.raises(SystemExit):
        ef.main(['random'])
    assert '--config' in capsys.readouterr().err


def test_probes_on_tiny_checkpoint(demo_and_checkpoint, tmp_path, capsys):
    demo, checkpoint = demo_and_checkpoint
    out = tmp_path / 'probes.json'
    assert ef.main([str(checkpoint), 'random', '--data-root', str(demo), '--out',
                    str(out)]) == 0
    table = capsys.readouterr().out
    assert '| backbone | seg mIoU |' in table and '| random |' in table
    results = json.loads(out.read_text())
    assert [r['prefix'] for r in results] == ['backbone.', None]
    for r in results:
        assert r['grid'] == [8, 8] and r['img_size'] == 64  # the config's 64 px, patch 8
        for key in ('seg_miou', 'seg_acc', 'pos_acc', 'rot_acc'):
            assert 0 <= r[key] <= 1, (key, r[key])
    # same seed, same numbers; the teacher is read from its own prefix
    again = ef.evaluate([str(checkpoint)], str(demo), teacher=True)
    assert again[0]['prefix'] == 'target_net.module.0.'
    assert all(0 <= again[0][k] <= 1 for k in ('seg_acc', 'pos_acc', 'rot_acc'))
    assert ef.evaluate([str(checkpoint)], str(demo))[0]['pos_acc'] == results[0]['pos_acc']


def test_table_and_json_handle_missing_numbers():
    row = dict(name='x', seg_miou=float('nan'), seg_acc=0.5, pos_acc=None, rot_acc=1.0,
               seg_iou=[0.5, float('nan')], pos_chance=0.125, img_size=64, grid=[8, 8])
    assert '| x | n/a | 50.0 | n/a | 100.0 |' in ef.markdown_table([row])
    assert json.loads(json.dumps(ef.json_safe([row])))[0]['seg_iou'] == [0.5, None]
