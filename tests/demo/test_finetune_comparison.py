"""Tests of gtsa_mm_lab.demo.finetune_comparison (``tools/compare.py --finetune``): the
aggregation and seed pairing on fake per-seed values, the tables and plot, the stages
(which checkpoint and seed each fine-tune gets) and what ``--resume`` reuses. The end-to-end
run is tests/tools/test_compare.py::test_quick_finetune_comparison."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from gtsa_mm_lab.demo import finetune_comparison as ft
from gtsa_mm_lab.demo.jobs import DONE_FILE, Stage, finished_stage, write_done

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
    assert cfg.model.type == 'GTSA' and cfg.model.head.rotation_head is None
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
    process's final checkpoint of the same config is there (not one of another config)."""
    settings = _settings(tmp_path)
    settings.seeds = (0,)
    pretraining = ft.pretrain_stage('gtsa', 0, tmp_path / 'seed0', 2, '/data/pretrain/', None,
                                    None)
    run = pretraining.work_dir
    awaited = {run / 'epoch_2.pth': pretraining}
    stages = ft.build_finetune_stages(settings, tmp_path / 'data', tmp_path,
                                      {('gtsa', 0): run / 'epoch_2.pth'}, ('seg',), 8, {})
    assert ft.awaited_checkpoint(stages[0], awaited) == run / 'epoch_2.pth'
    assert ft.awaited_checkpoint(stages[1], awaited) is None  # random init
    assert ft.awaited_checkpoint(pretraining, awaited) is None  # init_cfg: a list, loads none
    batches = []

    def fake_run_stages(batch, jobs, threads, say):
        batches.append([stage.name for stage in batch])
        if len(batches) == 1:  # meanwhile a run of another config finishes there
            other = ft.pretrain_stage('gtsa', 0, tmp_path, 2, '/data/pretrain/', 16, None)
            _pretrained(run, other.config)
        return [1.0]

    waits = []

    def fake_sleep(seconds):
        waits.append(seconds)
        if len(waits) == 1:  # then the awaited one
            _pretrained(run, pretraining.config)

    monkeypatch.setattr(ft, 'run_stages', fake_run_stages)
    monkeypatch.setattr(ft.time, 'sleep', fake_sleep)
    said = []
    load = ft.run_when_ready(stages, awaited, 2, 2, 1, said.append, poll_s=0.01)
    assert batches == [['seg_scratch_seed0'], ['seg_gtsa_seed0']] and load == [1.0, 1.0]
    assert waits == [0.01] and 'pretrain_gtsa_seed0' in said[0]


def _age(folder: Path, seconds: float = 120.) -> None:
    """Date every file under ``folder`` ``seconds`` back (no run is writing there)."""
    import os
    import time

    for path in [folder, *folder.rglob('*')]:
        os.utime(path, ns=(time.time_ns() - int(seconds * 1e9),) * 2)


def _pretrained(run: Path, cfg, epochs: int = 2, dump: str = 'config.py') -> Path:
    """A fake finished pretraining: the Runner's config dump, then the final checkpoint."""
    run.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(run / dump))
    with open(run / dump, 'a') as file:  # what tools/train.py adds to the dump
        file.write(f"launcher = 'none'\nwork_dir = '{run}'\n")
    _age(run, 60.)
    checkpoint = run / f'epoch_{epochs}.pth'
    checkpoint.write_bytes(b'weights')
    (run / 'last_checkpoint').write_text(str(checkpoint))
    return checkpoint


def test_finished_pretraining_is_of_the_same_config(tmp_path):
    """A final checkpoint is reused only when the run trained the config asked for: images,
    batch and variant count, the probe hook does not."""
    stage = ft.pretrain_stage('gtsa', 0, tmp_path, 2, '/data/pretrain/', 16, 8)
    run = stage.work_dir
    checkpoint = _pretrained(run, stage.config, dump='gtsa_budget_2e.py')  # compare.py's
    assert ft.finished_pretraining(run, 2, stage.config) == checkpoint
    assert ft.finished_pretraining(run, 2) == checkpoint  # no config: the checkpoint alone
    for other in (ft.pretrain_stage('gtsa', 0, tmp_path, 2, '/data/pretrain/', 32, 8),
                  ft.pretrain_stage('gtsa', 0, tmp_path, 2, '/data/pretrain/', 16, 4),
                  ft.pretrain_stage('no_rotation', 0, tmp_path, 2, '/data/pretrain/', 16, 8),
                  ft.pretrain_stage('gtsa', 1, tmp_path, 2, '/data/pretrain/', 16, 8)):
        assert ft.finished_pretraining(run, 2, other.config) is None
    # a dump written before the probe folder moved to probe_data_root still matches
    old = copy.deepcopy(stage.config)
    old.probe_data_root = 'data/demo/ade/'
    old.custom_hooks = [dict(type='DenseProbeHook', data_root='/data/ade', interval=1)]
    (run / 'gtsa_budget_2e.py').unlink()
    old.dump(str(run / 'gtsa_budget_2e.py'))
    _age(run / 'gtsa_budget_2e.py', 60.)
    assert ft.finished_pretraining(run, 2, stage.config) == checkpoint
    # a later run started in the folder: its dump is newer than the checkpoint
    stage.config.dump(str(run / 'config.py'))
    assert ft.finished_pretraining(run, 2, stage.config) is None


def _finished(stage: Stage) -> None:
    """What run_stages leaves after the fine-tune ``stage`` ran (Job records what it loads)."""
    from gtsa_mm_lab.demo.jobs import file_identity

    stage.work_dir.mkdir(parents=True, exist_ok=True)
    stage.loaded = file_identity(stage.loads)
    stage.seconds, stage.cpu_seconds = 3., 4.
    write_done(stage)


def test_a_fine_tune_is_reused_only_with_its_pretraining_checkpoint(tmp_path):
    settings = _settings(tmp_path)
    settings.seeds = (0,)
    checkpoint = tmp_path / 'seed0' / 'gtsa' / 'epoch_2.pth'
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b'weights')
    stage = ft.build_finetune_stages(settings, tmp_path / 'data', tmp_path,
                                     {('gtsa', 0): checkpoint}, ('seg',), 8, {})[0]
    assert stage.name == 'seg_gtsa_seed0' and stage.loads == checkpoint
    _finished(stage)
    record = json.loads((stage.work_dir / DONE_FILE).read_text())
    assert record['loads']['size'] == 7 and record['loads']['path'] == str(checkpoint)
    assert ft.finished_finetune(stage, set())['seconds'] == 3.
    assert ft.finished_finetune(stage, {checkpoint}) is None  # its pretraining trains again
    checkpoint.write_bytes(b'other weights')  # retrained since, same name
    assert ft.finished_finetune(stage, set()) is None
    # a record written before the checkpoint was recorded: its config decides, unless the
    # pretraining is trained again in this run
    del record['loads']
    (stage.work_dir / DONE_FILE).write_text(json.dumps(record))
    assert ft.finished_finetune(stage, set())['seconds'] == 3.
    assert ft.finished_finetune(stage, {checkpoint}) is None
    scratch = ft.build_finetune_stages(settings, tmp_path / 'data', tmp_path, {}, ('seg',), 8,
                                       {})[0]
    _finished(scratch)
    assert 'loads' not in json.loads((scratch.work_dir / DONE_FILE).read_text())
    assert ft.finished_finetune(scratch, {checkpoint})['seconds'] == 3.


def _resume_args(**changes):
    import argparse

    args = dict(seeds=[0], seed=0, methods=['gtsa'], det=False, det_epochs=None, seg_iters=6,
                seg_low_label_iters=None, quick=True, num_images=16, batch_size=8,
                resume=True, wait_pretraining=False, jobs=1, threads=1)
    args.update(changes)
    return argparse.Namespace(**args)


def _planned(tmp_path, monkeypatch, args) -> tuple[list[str], str]:
    """The stages ``run_finetune_comparison`` would run, and what it said."""
    import contextlib
    import io

    planned = []

    def stop(stages, *_, **__):
        planned.extend(stage.name for stage in stages)
        raise ft.StageFailed('planned')

    monkeypatch.setattr(ft, 'run_when_ready', stop)
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        assert ft.run_finetune_comparison(args, 2, tmp_path / 'data', tmp_path, 'cmd') == 1
    return planned, said.getvalue()


def test_resume_runs_again_the_fine_tunes_of_a_retrained_pretraining(tmp_path, monkeypatch):
    """--finetune --resume: the fine-tunes of a pretraining trained again in this run (here:
    preempted, its last_checkpoint at an iter_ file) are not reused, even with records that
    match their configs; those of a reused pretraining and of random init are."""
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'meta.json').write_text(json.dumps({'num_images': {'train': 8}}))
    args = _resume_args()
    pretraining = ft.pretrain_stage('gtsa', 0, tmp_path / 'seed0', 2,
                                    str(tmp_path / 'data' / 'pretrain') + '/', 16, 8)
    checkpoint = _pretrained(pretraining.work_dir, pretraining.config)
    settings = ft.finetune_settings(True, [0], 8, dict(seg_iters=6, seg_low_label_iters=None,
                                                       det_epochs=None))
    finetunes = ft.build_finetune_stages(settings, tmp_path / 'data', tmp_path,
                                         {('gtsa', 0): checkpoint}, ('seg', 'seg_low_label'),
                                         8, {})
    for stage in finetunes:
        _finished(stage)
        record = json.loads((stage.work_dir / DONE_FILE).read_text())
        record.pop('loads', None)  # as the records of the running study: without it
        (stage.work_dir / DONE_FILE).write_text(json.dumps(record))
    _age(tmp_path)
    planned, _ = _planned(tmp_path, monkeypatch, args)
    assert planned == []  # everything reused
    planned, _ = _planned(tmp_path, monkeypatch, _resume_args(batch_size=4))
    assert planned == ['pretrain_gtsa_seed0', 'seg_gtsa_seed0', 'seg_low_label_gtsa_seed0']
    (pretraining.work_dir / 'iter_3.pth').write_bytes(b'x')
    (pretraining.work_dir / 'last_checkpoint').write_text(
        str(pretraining.work_dir / 'iter_3.pth'))
    _age(tmp_path)
    planned, said = _planned(tmp_path, monkeypatch, args)
    assert planned == ['pretrain_gtsa_seed0', 'seg_gtsa_seed0', 'seg_low_label_gtsa_seed0']
    assert 'seg_gtsa_seed0: run again, its pretraining is trained again' in said
    assert 'seg_scratch_seed0: reusing' in said
