"""Tests of tools/compare.py (gtsa_mm_lab.demo.comparison): --help, the budget configs, and
the table / JSON / plot assembly on fake numbers (the real comparison is far too long for
a test)."""
from __future__ import annotations

import json

import pytest
from gtsa_test_utils import END_TO_END_TIMEOUT_S, QUICK_TOOL_TIMEOUT_S, REPO, run_tool

from gtsa_mm_lab.demo import comparison as compare


def test_help():
    out = run_tool('compare.py', '--help', check=True).stdout
    for option in ('--work-dir', '--epochs', '--quick', '--methods'):
        assert option in out


def test_variants_are_gtsa_its_four_ablations_and_dino():
    assert list(compare.VARIANTS) == ['gtsa', 'no_rotation', 'no_patch', 'no_rotate_target',
                                      'global_target', 'dino']


def test_generated_configs_build(tmp_path):
    """The budget and DINO configs load, end their schedule at --epochs and build."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import gtsa_mm  # noqa: F401

    configs = compare.write_configs(tmp_path, 6, '/data/pretrain/', 10, 8, seed=3)
    budget = Config.fromfile(str(configs['gtsa']))
    assert budget.train_cfg.max_epochs == 6 and budget.randomness.seed == 3
    assert all(s['end'] == 6 for s in budget.param_scheduler)
    assert budget.train_dataloader.dataset.indices == 10
    assert budget.train_dataloader.batch_size == 8
    assert budget.model.type == 'GTSA'
    probe = next(h for h in budget.custom_hooks if h.type == 'DenseProbeHook')
    # the labelled split beside the pretrain images, where DenseProbeHook reads it
    assert budget.probe_data_root == '/data/ade' and 'data_root' not in probe
    dino = Config.fromfile(str(configs['dino']))
    assert dino.model.type == 'DINO' and 'predictor' not in dino.model
    assert dino.model.head.out_channels == 1024 and dino.model.head.hidden_channels == 256
    assert dino.model.backbone.arch == budget.model.backbone.arch  # same ViT
    assert dino.train_dataloader == budget.train_dataloader  # same data and crops
    assert dino.optim_wrapper == budget.optim_wrapper
    MODELS.build(dino.model)
    for options in compare.VARIANTS.values():
        if options:
            cfg = Config.fromfile(str(configs['gtsa']))
            key, value = options[0].split('=')
            cfg.merge_from_dict({key: None if value == 'None' else
                                 False if value == 'False' else value})
            MODELS.build(cfg.model)


def test_budget_of_the_demo_configs_epochs_is_the_demo_configs(tmp_path):
    """At the demo configs' 24 epochs the budget changes only data, seed and probe cadence."""
    from mmengine.config import Config

    configs = compare.write_configs(tmp_path, 24, '/data/pretrain/', None, None, seed=0)
    for name, shipped in (('gtsa', compare.PRETRAIN_CONFIG), ('dino', compare.DINO_CONFIG)):
        budget, demo = Config.fromfile(str(configs[name])), Config.fromfile(str(shipped))
        assert budget.param_scheduler == demo.param_scheduler
        assert budget.model == demo.model and budget.optim_wrapper == demo.optim_wrapper
        assert budget.train_cfg == demo.train_cfg
        assert budget.default_hooks == demo.default_hooks
        probe = next(h for h in budget.custom_hooks if h.type == 'DenseProbeHook')
        assert probe.interval == 6 and budget.probe_data_root == '/data/ade'
        assert probe == dict(type='DenseProbeHook', interval=6)  # the folder: probe_data_root
        assert budget.train_dataloader.dataset.data_root == '/data/pretrain/'


def test_budget_of_two_epochs_has_no_warmup(tmp_path):
    from mmengine.config import Config

    configs = compare.write_configs(tmp_path, 2, '/data/pretrain/', None, None, seed=0)
    budget = Config.fromfile(str(configs['gtsa']))
    assert [s.type for s in budget.param_scheduler] == ['CosineAnnealingLR',
                                                        'CosineAnnealingWeightDecay']
    assert budget.model.head.patch_loss.warmup_epochs == 0
    dino = Config.fromfile(str(configs['dino'])).model
    assert (dino.teacher_temp_warmup_epochs, dino.freeze_last_layer_epochs) == (1, 0)


def _fake_results() -> list[dict]:
    rows = []
    for i, name in enumerate([*compare.VARIANTS, 'random']):
        rows.append(dict(name=name, linear_mIoU=10. * i, nn_mIoU=50., pos_acc=20.,
                         rot_acc=90., feature_effective_rank=12.5, feature_std_ratio=0.5,
                         pos_chance=12.5, img_size=64, grid=[8, 8], feature_dims=128,
                         num_train=4, num_val=2))
    return rows


def test_table_json_and_plot_on_fake_numbers(tmp_path):
    seconds = {name: 60.0 * (i + 1) for i, name in enumerate(compare.VARIANTS)}
    settings = dict(config='configs/gtsa/x_demo.py', epochs=3, num_images='all', batch_size=32,
                    seed=0, num_train=4, num_val=2, command='python tools/compare.py')
    document = compare.assemble(_fake_results(), seconds, settings)
    json.dumps(document)  # serialisable
    assert document['results'][-1]['train_seconds'] is None  # random init: no pretraining
    table = compare.markdown(document).splitlines()
    assert table[0].startswith('3 epochs x all images, batch 32')
    header = next(i for i, line in enumerate(table) if line.startswith('| backbone'))
    assert 'pretrain min' in table[header]
    rows = table[header + 2:header + 9]
    assert rows[0] == '| gtsa | 0.00 | 50.00 | 20.00 | 90.00 | 12.50 | 0.50 | 1.00 |'
    assert rows[-1] == '| random | 60.00 | 50.00 | 20.00 | 90.00 | 12.50 | 0.50 | n/a |'
    assert 'train min' not in document['results'][0]  # the table does not touch the JSON
    compare.plot(document, tmp_path / 'results.png')
    assert (tmp_path / 'results.png').stat().st_size > 1000


@pytest.mark.slow
def test_quick_run_of_two_methods(tmp_path):
    """tools/compare.py end to end on tiny data: GTSA and DINO, 1 epoch on 8 images."""
    demo = tmp_path / 'demo'
    run_tool('make_demo_data.py', '--out', str(demo), '--num-pretrain', '8', '--num-train',
             '4', '--num-val', '2', '--image-size', '96', '--quiet', check=True)
    work = tmp_path / 'work'
    run_tool('compare.py', '--quick', '--epochs', '1', '--num-images', '8', '--batch-size',
             '4', '--methods', 'gtsa', 'dino', '--data-root', str(demo), '--work-dir',
             str(work), check=True, timeout=None)
    document = json.loads((work / 'results.json').read_text())
    assert [r['name'] for r in document['results']] == ['gtsa', 'dino', 'random']
    assert 'DenseProbe(student) after 1 epochs' in (work / 'gtsa' / 'train_stdout.log').read_text()
    for r in document['results']:
        assert 0 <= r['pos_acc'] <= 100 and 0 <= r['rot_acc'] <= 100
        assert 0 <= r['nn_mIoU'] <= 100 and r['feature_effective_rank'] > 0
    assert (work / 'results.png').is_file() and (work / 'results.md').is_file()


def _seed_document(seed: int, offset: float) -> dict:
    rows = _fake_results()
    for row in rows:
        row['linear_mIoU'] += offset if row['name'] != 'random' else 0.
        row['nn_mIoU'] += seed
        row['checkpoint'] = f'seed{seed}/{row["name"]}.pth'
    settings = dict(config='configs/gtsa/x_demo.py', epochs=3, num_images='all',
                    batch_size=32, seed=seed, num_train=4, num_val=2,
                    command='python tools/compare.py')
    return compare.assemble(rows, {name: 60.0 for name in compare.VARIANTS}, settings)


def test_aggregate_over_seeds_means_spreads_and_pairs_by_seed(tmp_path):
    documents = [_seed_document(0, 1.), _seed_document(1, 3.), _seed_document(2, -1.)]
    document = compare.aggregate(documents)
    json.dumps(document)
    assert document['settings']['seeds'] == [0, 1, 2] and 'seed' not in document['settings']
    gtsa = document['results'][0]
    assert gtsa['name'] == 'gtsa' and len(gtsa['runs']) == 3 and 'checkpoint' not in gtsa
    assert gtsa['linear_mIoU'] == pytest.approx(1.0)  # (1 + 3 - 1) / 3, fake gtsa base 0
    assert gtsa['linear_mIoU_std'] == pytest.approx((8 / 3) ** 0.5)
    assert gtsa['nn_mIoU'] == pytest.approx(51.) and gtsa['grid'] == [8, 8]
    assert gtsa['img_size'] == 64 and 'img_size_std' not in gtsa  # a shared setting
    random = document['results'][-1]
    assert random['name'] == 'random' and random['linear_mIoU_std'] == 0.
    # gtsa - random per seed: fake gtsa 0 + offset against random 60
    paired = document['differences']['gtsa']['linear_mIoU']
    assert paired['runs'] == pytest.approx([-59., -57., -61.]) and paired['wins'] == 0
    assert document['differences']['gtsa']['nn_mIoU']['runs'] == [0., 0., 0.]
    assert 'random' not in document['differences']
    table = compare.markdown(document)
    assert 'seeds 0, 1, 2 (mean ± std)' in table.splitlines()[0]
    assert '| gtsa | 1.00 ± 1.63 |' in table
    assert '| gtsa | -59.00 ± 1.63 (0/3) | +0.00 ± 0.00 (0/3) | +0.00 ± 0.00 (0/3) |' in table
    compare.plot(document, tmp_path / 'results.png')
    assert (tmp_path / 'results.png').stat().st_size > 1000


def test_aggregate_refuses_seeds_run_with_different_methods():
    documents = [_seed_document(0, 0.), _seed_document(1, 0.)]
    documents[1]['results'] = documents[1]['results'][:-2]
    with pytest.raises(ValueError, match='different methods'):
        compare.aggregate(documents)


@pytest.mark.slow
def test_quick_run_over_two_seeds(tmp_path):
    """--seeds: one pretraining per seed under seed<S>/, the aggregate at the top, and
    --resume reading the finished seeds back instead of training again."""
    demo = tmp_path / 'demo'
    run_tool('make_demo_data.py', '--out', str(demo), '--num-pretrain', '8', '--num-train',
             '4', '--num-val', '2', '--image-size', '96', '--quiet', check=True)
    work = tmp_path / 'work'
    args = ('--quick', '--epochs', '1', '--num-images', '8', '--batch-size', '4', '--methods',
            'gtsa', '--seeds', '0', '1', '--data-root', str(demo), '--work-dir', str(work))
    first = run_tool('compare.py', *args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    document = json.loads((work / 'results.json').read_text())
    assert document['settings']['seeds'] == [0, 1]
    assert [r['name'] for r in document['results']] == ['gtsa', 'random']
    for row in document['results']:
        assert len(row['runs']) == 2 and row['linear_mIoU_std'] is not None
    assert [r['settings']['seed'] for r in (json.loads(
        (work / f'seed{s}' / 'results.json').read_text()) for s in (0, 1))] == [0, 1]
    assert len(document['differences']['gtsa']['linear_mIoU']['runs']) == 2
    assert (work / 'results.png').is_file() and (work / 'seed1' / 'gtsa' / 'epoch_1.pth').is_file()
    again = run_tool('compare.py', *args, '--resume')
    assert again.returncode == 0 and 'seed 1: reusing' in again.stdout
    assert json.loads((work / 'results.json').read_text())['results'] == document['results']


def test_help_names_the_finetune_and_gpu_study_options():
    out = run_tool('compare.py', '--help', check=True).stdout
    for option in ('--finetune', '--det', '--jobs', '--seg-iters', '--preset', '--minutes',
                   '--scenes', 'gpu-vit-s16'):
        assert option in out


def _tiny_demo_data(root, num_pretrain: int = 8) -> None:
    run_tool('make_demo_data.py', '--out', str(root), '--num-pretrain', str(num_pretrain),
             '--num-train', '8', '--num-val', '2', '--image-size', '96', '--quiet', check=True)


@pytest.mark.slow
def test_quick_finetune_comparison(tmp_path):
    """--finetune end to end on tiny data (GTSA only, to keep it short; the DINO rows take
    the same path): pretrained per seed, UperNet with all and with 1/8 of the labels from
    it and from random init, aggregated and paired by seed; --resume then reuses the
    pretrainings and every finished fine-tune and runs only the one whose record is gone."""
    demo, work = tmp_path / 'demo', tmp_path / 'work'
    _tiny_demo_data(demo)
    args = ('--finetune', '--quick', '--epochs', '1', '--num-images', '8', '--batch-size', '4',
            '--methods', 'gtsa', '--seeds', '0', '1', '--seg-iters', '2',
            '--seg-low-label-iters', '2', '--data-root', str(demo), '--work-dir', str(work))
    first = run_tool('compare.py', *args, timeout=END_TO_END_TIMEOUT_S)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    document = json.loads((work / 'finetune.json').read_text())
    assert list(document['results']) == ['gtsa', 'scratch']
    for row in document['results'].values():
        assert row['seeds'] == [0, 1]
        for key in ('mIoU', 'mIoU_low_label'):
            assert len(row['runs'][key]) == 2 and 0 <= row[key] <= 100
    assert list(document['differences']) == ['gtsa - scratch']
    paired = document['differences']['gtsa - scratch']['mIoU']
    assert paired['runs'] == pytest.approx([a - b for a, b in zip(
        document['results']['gtsa']['runs']['mIoU'],
        document['results']['scratch']['runs']['mIoU'])])
    assert document['checkpoints']['gtsa/seed1'].endswith('seed1/gtsa/epoch_1.pth')
    assert 'wall time per stage:' in first.stdout and 'total wall time' in first.stdout
    assert (work / 'finetune.png').read_bytes()[:4] == b'\x89PNG'
    assert '| GTSA - random init |' in (work / 'finetune.md').read_text()

    (work / 'seed1' / 'finetune' / 'seg_gtsa' / 'stage_done.json').unlink()  # as if killed
    again = run_tool('compare.py', *args, '--resume', timeout=END_TO_END_TIMEOUT_S)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert 'pretrain_gtsa_seed1: reusing' in again.stdout
    assert '1 stages to run (9 reused)' in again.stdout
    assert 'seg_gtsa_seed1' in again.stdout.split('stages to run')[1]
    rerun = json.loads((work / 'finetune.json').read_text())
    assert rerun['results'] == document['results']  # the same seeds give the same numbers


def _script_env() -> dict:
    import os
    import sys

    return dict(os.environ, PY=sys.executable)


def test_study_script_without_cuda_says_how_to_run_on_a_cpu():
    import subprocess

    import torch

    if torch.cuda.is_available():
        pytest.skip('a CUDA device is visible')
    proc = subprocess.run(['bash', 'tools/study_gpu.sh', '--minutes', '1'], cwd=REPO,
                          capture_output=True, text=True, timeout=QUICK_TOOL_TIMEOUT_S,
                          env=_script_env())
    assert proc.returncode == 2
    assert 'no CUDA device' in proc.stderr and '--quick' in proc.stderr


def test_gpu_preset_without_cuda_exits_with_a_message(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip('a CUDA device is visible')
    proc = run_tool('compare.py', '--preset', 'gpu-vit-s16', '--data-root',
                    str(tmp_path / 'data'), '--work-dir', str(tmp_path / 'work'))
    assert proc.returncode != 0 and 'no CUDA device' in proc.stderr
    assert not (tmp_path / 'data').exists()  # it stops before drawing any data


@pytest.mark.slow
def test_quick_gpu_study_on_cpu(tmp_path):
    """tools/study_gpu.sh --quick: data drawn in parallel, each method timed, trained for
    the epochs that fit its seconds of budget, probed with a random init; one table."""
    import subprocess

    work = tmp_path / 'work'
    proc = subprocess.run(['bash', 'tools/study_gpu.sh', '--quick', '--data-root',
                           str(tmp_path / 'data'), '--work-dir', str(work), '--data-workers',
                           '2'], cwd=REPO, capture_output=True, text=True,
                          timeout=END_TO_END_TIMEOUT_S, env=_script_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    document = json.loads((work / 'study.json').read_text())
    assert [r['name'] for r in document['results']] == ['gtsa', 'dino', 'random']
    for method in ('gtsa', 'dino'):
        run = document['runs'][method]
        assert run['epochs'] >= 1 and run['device'] == 'cpu'
        assert (work / method / f"epoch_{run['epochs']}.pth").is_file()
    for row in document['results']:
        assert 0 <= row['rot_acc'] <= 100 and row['feature_effective_rank'] > 0
    assert '| gtsa |' in proc.stdout and 'images/s' in proc.stdout
    again = subprocess.run(['bash', 'tools/study_gpu.sh', '--quick', '--data-root',
                            str(tmp_path / 'data'), '--work-dir', str(work), '--resume'],
                           cwd=REPO, capture_output=True, text=True,
                           timeout=END_TO_END_TIMEOUT_S, env=_script_env())
    assert again.returncode == 0 and 'gtsa: reusing' in again.stdout
    assert 'data: using' in again.stdout
