"""Tests of gtsa_mm.demo.finetune_comparison (``tools/compare.py --finetune``): the
aggregation and seed pairing on fake per-seed values, the tables and plot, the stages
(which checkpoint and seed each fine-tune gets) and what ``--resume`` reuses. The end-to-end
run is tests/tools/test_compare.py::test_quick_finetune_comparison."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from gtsa_mm.demo import finetune_comparison as ft
from gtsa_mm.demo.jobs import DONE_FILE, Stage, finished_stage, write_done

VALUES = {'gtsa': {'mIoU': [16., 18., 17.], 'mIoU_low_label': [11., 10., 12.]},
          'dino': {'mIoU': [15., 18.5, 16.], 'mIoU_low_label': [10., 10., 13.]},
          'scratch': {'mIoU': [14., 17., 17.], 'mIoU_low_label': [9., 11., 12.]}}
SEEDS = [0, 1, 2]


def test_aggregate_means_spreads_and_seed_paired_differences():
    document = ft.aggregate_finetunes(VALUES, SEEDS)
    gtsa = document['results']['gtsa']
    assert gtsa['mIoU'] == 17. and gtsa['mIoU_std'] == pytest.approx(math.sqrt(2 / 3))
    assert gtsa['mIoU_low_label'] == 11. and gtsa['seeds'] == SEEDS
    assert gtsa['runs'] == VALUES['gtsa']
    assert document['results']['dino']['mIoU'] == pytest.approx(49.5 / 3)
    assert list(document['differences']) == ['gtsa - dino', 'gtsa - scratch']
    vs_dino = document['differences']['gtsa - dino']
    assert vs_dino['mIoU']['runs'] == [1., -0.5, 1.]
    assert vs_dino['mIoU']['mean'] == 0.5 and vs_dino['mIoU']['wins'] == 2
    assert vs_dino['mIoU']['std'] == pytest.approx(math.sqrt(0.5))
    assert vs_dino['mIoU_low_label']['runs'] == [1., 0., -1.]
    assert vs_dino['mIoU_low_label']['wins'] == 1  # a tie is not a win
    vs_scratch = document['differences']['gtsa - scratch']
    assert vs_scratch['mIoU']['runs'] == [2., 1., 0.] and vs_scratch['mIoU']['wins'] == 2
    assert vs_scratch['mIoU_low_label']['mean'] == pytest.approx(1 / 3)
    assert vs_scratch['mIoU_low_label']['std'] == pytest.approx(math.sqrt(42 / 27))
    json.dumps(document)


def test_aggregate_without_gtsa_compares_with_the_first_init():
    values = {name: VALUES[name] for name in ('dino', 'scratch')}
    document = ft.aggregate_finetunes(values, SEEDS)
    assert list(document['differences']) == ['dino - scratch']
    assert document['differences']['dino - scratch']['mIoU']['runs'] == [1., 1.5, -1.]


def test_aggregate_refuses_a_missing_seed():
    values = {'gtsa': {'mIoU': [1., 2.]}, 'scratch': {'mIoU': [1., 2., 3.]}}
    with pytest.raises(ValueError, match='gtsa mIoU has 2 values for 3 seeds'):
        ft.aggregate_finetunes(values, SEEDS)


def _document() -> dict:
    document = ft.aggregate_finetunes(VALUES, SEEDS)
    document.update(settings=dict(epochs=12, num_images='all', seeds=SEEDS, seg_iters=600,
                                  seg_low_label_iters=300, det_epochs=4,
                                  kinds=['seg', 'seg_low_label'], jobs=2),
                    timings_s={'total': 125.0}, reused=['pretrain_gtsa_seed0'])
    return document


def test_markdown_tables(tmp_path):
    text = ft.finetune_markdown(_document()).splitlines()
    assert text[0].startswith('Fine-tuning after 12 pretraining epochs on all images')
    assert '| GTSA | 17.00 ± 0.82 | 11.00 ± 0.82 |' in text
    assert '| random init | 16.00 ± 1.41 | 10.67 ± 1.25 |' in text
    assert '| GTSA - DINO | +0.50 ± 0.71 (2/3) | +0.00 ± 0.82 (1/3) |' in text
    assert '| GTSA - random init | +1.00 ± 0.82 (2/3) | +0.33 ± 1.25 (1/3) |' in text
    assert '| 1 | 18.00 / 18.50 / 17.00 | 10.00 / 10.00 / 11.00 |' in text
    assert not any('Mask R-CNN' in line for line in text)  # no det column without --det
    assert text[-1].startswith('Wall time: 2m05s in all, 2 stage(s) at a time')
    ft.plot_finetunes(_document(), tmp_path / 'finetune.png')
    assert (tmp_path / 'finetune.png').read_bytes()[:4] == b'\x89PNG'


def _settings(tmp_path: Path):
    return ft.finetune_settings(True, [0, 1], 8, dict(seg_iters=6, seg_low_label_iters=None,
                                                      det_epochs=None))


def test_finetune_stages_pair_pretraining_and_finetune_seeds(tmp_path):
    settings = _settings(tmp_path)
    assert settings.seeds == (0, 1) and settings.seg_iters == 6 and settings.train_images == 8
    checkpoints = {(m, s): tmp_path / f'seed{s}' / m / 'epoch_2.pth'
                   for s in (0, 1) for m in ('gtsa', 'dino')}
    stages = ft.build_finetune_stages(settings, tmp_path / 'data', tmp_path, checkpoints,
                                      ('seg', 'seg_low_label'), 8,
                                      needs={('dino', 1): 'pretrain_dino_seed1'})
    assert [s.name for s in stages[:6]] == [
        'seg_gtsa_seed0', 'seg_dino_seed0', 'seg_scratch_seed0', 'seg_low_label_gtsa_seed0',
        'seg_low_label_dino_seed0', 'seg_low_label_scratch_seed0']
    by_name = {s.name: s for s in stages}
    for seed in (0, 1):
        subsets = set()
        for init in ('gtsa', 'dino', 'scratch'):
            seg = by_name[f'seg_{init}_seed{seed}'].config
            assert seg.randomness.seed == seed and seg.train_cfg.max_iters == 6
            init_cfg = seg.model.backbone.init_cfg
            if init == 'scratch':
                assert init_cfg is None
            else:
                assert init_cfg.checkpoint == str(checkpoints[init, seed])
                assert init_cfg.use_teacher
            low = by_name[f'seg_low_label_{init}_seed{seed}'].config
            subsets.add(tuple(low.train_dataloader.dataset.indices))
            assert Path(seg.work_dir) == tmp_path / f'seed{seed}' / 'finetune' / f'seg_{init}'
        assert len(subsets) == 1  # one label subset per seed, whatever the init
    assert by_name['seg_dino_seed1'].needs == ('pretrain_dino_seed1',)
    assert by_name['seg_gtsa_seed1'].needs == () and by_name['seg_scratch_seed1'].needs == ()


def test_pretrain_stage_is_the_budget_config_with_the_variant(tmp_path):
    stage = ft.pretrain_stage('no_rotation', 2, tmp_path / 'seed2', 3, '/data/pretrain/', 16, 8)
    cfg = stage.config
    assert stage.name == 'pretrain_no_rotation_seed2'
    assert cfg.model.type == 'GTSA' and cfg.model.rotation_head is None
    assert cfg.randomness.seed == 2 and cfg.train_cfg.max_epochs == 3
    assert cfg.train_dataloader.batch_size == 8 and cfg.train_dataloader.dataset.indices == 16
    assert Path(cfg.work_dir) == tmp_path / 'seed2' / 'no_rotation'
    dino = ft.pretrain_stage('dino', 0, tmp_path, 3, '/data/pretrain/', None, None).config
    assert dino.model.type == 'DINO'


def test_finished_pretraining_needs_the_final_epoch(tmp_path):
    run = tmp_path / 'gtsa'
    run.mkdir()
    assert ft.finished_pretraining(run, 12) is None
    (run / 'epoch_12.pth').write_bytes(b'x')
    (run / 'iter_40.pth').write_bytes(b'x')
    (run / 'last_checkpoint').write_text(str(run / 'iter_40.pth'))  # a preempted run
    assert ft.finished_pretraining(run, 12) is None
    (run / 'last_checkpoint').write_text(str(run / 'epoch_12.pth'))
    assert ft.finished_pretraining(run, 12) == run / 'epoch_12.pth'
    assert ft.finished_pretraining(run, 24) is None  # a run of other epochs


def test_finished_stage_needs_the_marker_and_the_same_config(tmp_path):
    settings = _settings(tmp_path)
    stage = ft.build_finetune_stages(settings, tmp_path / 'data', tmp_path, {}, ('seg',), 8,
                                     {})[0]
    assert stage.name == 'seg_scratch_seed0' and finished_stage(stage) is None
    stage.work_dir.mkdir(parents=True)
    stage.seconds, stage.cpu_seconds = 12.5, 20.
    write_done(stage)  # what run_stages writes after the stage's process exited with 0
    (stage.work_dir / 'config.py').write_text("launcher = 'none'\n")  # the Runner's dump
    assert finished_stage(stage)['seconds'] == 12.5
    assert finished_stage(copy.deepcopy(stage))['cpu_seconds'] == 20.
    (stage.work_dir / DONE_FILE).unlink()
    assert finished_stage(stage) is None  # started, never finished
    write_done(stage)
    changed = Stage(stage.name, stage.title, copy.deepcopy(stage.config))
    changed.config.train_cfg.max_iters = 7
    assert finished_stage(changed) is None  # another schedule: run it again


def test_fine_tunes_wait_for_the_pretraining_of_another_process(tmp_path, monkeypatch):
    """--wait-pretraining: random init runs at once, the GTSA fine-tune once the other
    process's final checkpoint is there."""
    settings = _settings(tmp_path)
    settings.seeds = (0,)
    run = tmp_path / 'seed0' / 'gtsa'
    awaited = {run / 'epoch_2.pth': 'pretrain_gtsa_seed0'}
    stages = ft.build_finetune_stages(settings, tmp_path / 'data', tmp_path,
                                      {('gtsa', 0): run / 'epoch_2.pth'}, ('seg',), 8, {})
    assert ft.awaited_checkpoint(stages[0], awaited) == run / 'epoch_2.pth'
    assert ft.awaited_checkpoint(stages[1], awaited) is None  # random init
    batches = []

    def fake_run_stages(batch, jobs, threads, say):
        batches.append([stage.name for stage in batch])
        if len(batches) == 1:  # meanwhile the other process finishes
            run.mkdir(parents=True)
            (run / 'epoch_2.pth').write_bytes(b'x')
            (run / 'last_checkpoint').write_text(str(run / 'epoch_2.pth'))
        return [1.0]

    monkeypatch.setattr(ft, 'run_stages', fake_run_stages)
    said = []
    load = ft.run_when_ready(stages, awaited, 2, 2, 1, said.append, poll_s=0.01)
    assert batches == [['seg_scratch_seed0'], ['seg_gtsa_seed0']] and load == [1.0, 1.0]
