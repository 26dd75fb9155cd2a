"""`tools/train.py CONFIG --resume` continues a run exactly: same student, teacher,
optimizer and schedules as a run that never stopped (SeededSampler + ExactResumeHook)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pretrain_helpers import tiny_pretrain_cfg, write_images

import gtsa_mm  # noqa: F401  (registers the components; weights-only checkpoint loading)
from gtsa_mm.datasets import SeededIndex, SeededSampler, UnlabeledImageFolder
from gtsa_mm.engine import train_cli
from gtsa_mm.engine.hooks.exact_resume_hook import iteration_seed

NUM_IMAGES, BATCH, EPOCHS = 8, 2, 2  # 4 iterations per epoch, 8 in all


def resume_cfg(work_dir: Path, data: Path, num_workers: int = 2):
    """The shipped recipe, tiny, with every source of run-to-run difference switched on:
    persistent DataLoader workers, drop path (torch RNG), the patch-loss warm-up ending
    after epoch 1, cosine lr / weight decay / teacher momentum, gradient clipping; a
    checkpoint after every iteration."""
    cfg = tiny_pretrain_cfg(work_dir, data, max_epochs=EPOCHS, batch_size=BATCH,
                            head=dict(patch_loss=dict(
                                type='PatchCorrespondenceLoss', loss_weight=0.5, warmup_epochs=1)))
    cfg.model.backbone.drop_path_rate = 0.1
    cfg.train_dataloader.update(num_workers=num_workers, persistent_workers=num_workers > 0)
    cfg.default_hooks.checkpoint.update(by_epoch=False, interval=1)
    assert cfg.train_dataloader.sampler.type == 'SeededSampler'
    assert cfg.default_hooks.sampler_seed.type == 'ExactResumeHook'
    return cfg


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory):
    """8 iterations without stopping, through tools/train.py; iter_k.pth after each."""
    root = tmp_path_factory.mktemp('resume')
    data = write_images(root / 'images', NUM_IMAGES)
    config = root / 'tiny_gtsa.py'
    resume_cfg(root / 'straight', data).dump(str(config))
    train_cli.main([str(config), '--work-dir', str(root / 'straight')])
    return root, config


def assert_same_state(resumed: dict, straight: dict) -> None:
    assert resumed['meta']['iter'] == straight['meta']['iter'] == EPOCHS * 4
    keys = straight['state_dict'].keys()
    assert resumed['state_dict'].keys() == keys
    assert any(k.startswith('target_net.module.') for k in keys)  # the teacher
    for key in keys:  # student, teacher and the EMA step count: bit for bit
        assert torch.equal(resumed['state_dict'][key], straight['state_dict'][key]), key
    opt_r, opt_s = resumed['optimizer'], straight['optimizer']
    for group_r, group_s in zip(opt_r['param_groups'], opt_s['param_groups']):
        assert group_r['lr'] == group_s['lr']
        assert group_r['weight_decay'] == group_s['weight_decay']
    for idx, state in opt_s['state'].items():
        for name, value in state.items():
            assert torch.equal(opt_r['state'][idx][name], value), (idx, name)
    assert resumed['param_schedulers'] == straight['param_schedulers']


@pytest.mark.slow
@pytest.mark.parametrize('stop_at', [4, 6], ids=['epoch-boundary', 'mid-epoch'])
def test_resume_reproduces_the_straight_run_exactly(straight_run, tmp_path, stop_at):
    """Stopped after iteration `stop_at` (its checkpoint is what a killed run leaves),
    resumed with --resume: the final checkpoint equals the straight run's bit for bit."""
    root, config = straight_run
    work = tmp_path / 'resumed'
    train_cli.main([str(config), '--work-dir', str(work),
                            '--resume', str(root / 'straight' / f'iter_{stop_at}.pth')])
    # only the missing iterations ran
    assert not (work / f'iter_{stop_at}.pth').exists()
    assert (work / f'iter_{stop_at + 1}.pth').is_file()
    last = EPOCHS * 4
    resumed = torch.load(work / f'iter_{last}.pth', map_location='cpu')
    straight = torch.load(root / 'straight' / f'iter_{last}.pth', map_location='cpu')
    assert resumed['state_dict']['target_net.steps'].item() == last
    assert_same_state(resumed, straight)
    # and training did move the weights after the resume point
    halfway = torch.load(root / 'straight' / f'iter_{stop_at}.pth', map_location='cpu')
    key = 'backbone.layers.0.ffn.layers.1.weight'
    assert not torch.equal(halfway['state_dict'][key], straight['state_dict'][key])


# ------------------------------------------------------------------ the pieces
def test_seeded_sampler_keeps_default_order_and_seeds_by_epoch_and_index():
    sampler = SeededSampler(list(range(10)), shuffle=True, seed=3)
    sampler.set_epoch(2)
    items = list(sampler)
    g = torch.Generator().manual_seed(3 + 2)
    assert [i.index for i in items] == torch.randperm(10, generator=g).tolist()
    assert all(isinstance(i, SeededIndex) and i.seed == (3, 2, i.index) for i in items)


def test_seeded_sampler_skips_only_in_the_resumed_epoch():
    sampler = SeededSampler(list(range(10)), shuffle=True, seed=0)
    sampler.set_epoch(1)
    full = list(sampler)
    sampler.skip_first(4, epoch=1)
    assert len(sampler) == 6 and list(sampler) == full[4:]
    sampler.set_epoch(2)
    assert len(sampler) == 10 and len(list(sampler)) == 10


def test_seeded_index_fixes_the_views_whatever_came_before(tmp_path):
    data = write_images(tmp_path / 'images', 3)
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='GTSAMultiCrop', global_size=32, local_size=16)]
    dataset = UnlabeledImageFolder(str(data), pipeline=pipeline)
    first = dataset[SeededIndex(1, (0, 5, 1))]
    np.random.seed(123)  # another worker, or a resumed run: different global state
    dataset[0], dataset[SeededIndex(2, (0, 5, 2))]
    again = dataset[SeededIndex(1, (0, 5, 1))]
    other_epoch = dataset[SeededIndex(1, (0, 6, 1))]
    assert torch.equal(first['crop_boxes'], again['crop_boxes'])
    assert all(np.array_equal(a, b) for a, b in zip(first['img'], again['img']))
    assert not torch.equal(first['crop_boxes'], other_epoch['crop_boxes'])
    assert 'aug_seed' not in dataset[1]  # plain indices: the transform's own generator


def test_iteration_seed_depends_on_seed_and_iteration_only():
    assert iteration_seed(0, 5) == iteration_seed(0, 5)
    assert len({iteration_seed(0, 5), iteration_seed(0, 6), iteration_seed(1, 5)}) == 3
