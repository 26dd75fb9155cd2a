"""GTSA pretraining through MMEngine's Runner: configs, an iteration, learning, resume."""
from __future__ import annotations

import glob
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from pretrain_helpers import PAPER_CONFIG, REPO, tiny_pretrain_cfg, write_images

PRETRAIN_CONFIGS = sorted(glob.glob(str(REPO / 'configs/gtsa/*.py')) +
                          glob.glob(str(REPO / 'configs/dino/*.py')))


@pytest.mark.parametrize('path', PRETRAIN_CONFIGS, ids=lambda p: Path(p).name)
def test_shipped_pretrain_configs_build(path):
    from mmpretrain.registry import MODELS

    import gtsa_mm  # noqa: F401
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ['gtsa_mm']
    model = MODELS.build(cfg.model)
    assert type(model).__name__ in ('GTSA', 'DINO')
    names = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert names == ['LoadImageFromFile', 'GTSAMultiCrop', 'PackInputs']


def test_paper_recipe_numbers():
    cfg = Config.fromfile(str(PAPER_CONFIG))
    assert cfg.train_dataloader.batch_size == 64 and cfg.train_cfg.max_epochs == 100
    assert math.isclose(cfg.optim_wrapper.optimizer.lr, 5e-4 * 512 / 256)
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.04
    # the authors' clip: each parameter's gradient norm to 3.0 separately
    assert cfg.optim_wrapper.clip_grad == dict(type='per_parameter_norm', max_norm=3.0)
    assert cfg.optim_wrapper.type == 'PerParameterClipAmpOptimWrapper'
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert (crop.global_size, crop.local_size, crop.num_global, crop.num_local) == (224, 96, 2, 8)
    assert cfg.model.backbone.arch == 'deit-small' and cfg.model.backbone.patch_size == 16
    # the authors' `warmup_epochs < epoch` with warmup_epochs = 10: 0-based epochs 0..10 off
    assert cfg.model.head.patch_loss.warmup_epochs == cfg.warmup_epochs + 1 == 11
    assert cfg.optim_wrapper.optimizer.fused is True
    assert cfg.env_cfg.cudnn_benchmark is True and cfg.env_cfg.dist_cfg.backend == 'nccl'


def test_paper_optimizer_builds_fused_and_steps(tiny_gtsa):
    """The paper's AdamW (fused, no decay on biases / norms) builds from the config and steps."""
    from mmengine.optim import build_optim_wrapper

    from gtsa_mm.engine.optimizers import disable_amp
    cfg = Config.fromfile(str(PAPER_CONFIG)).optim_wrapper
    disable_amp(cfg)  # the AMP wrapper needs a GPU; the optimizer and clip rule are the same
    model = tiny_gtsa()
    wrapper = build_optim_wrapper(model, cfg)
    optimizer = wrapper.optimizer
    assert type(optimizer) is torch.optim.AdamW and optimizer.defaults['fused'] is True
    for group in optimizer.param_groups:
        for param in group['params']:
            if param.ndim in (1, 2, 4):  # biases and norms / linear / conv weights
                assert group['weight_decay'] == (0. if param.ndim == 1 else 0.04)
    before = model.backbone.patch_embed.projection.weight.detach().clone()
    loss = sum(p.float().pow(2).sum() for p in model.parameters() if p.requires_grad)
    wrapper.update_params(loss)
    assert not torch.equal(before, model.backbone.patch_embed.projection.weight)


def test_one_runner_epoch_writes_a_checkpoint_that_resumes(tmp_path):
    data = write_images(tmp_path / 'images', 4)
    cfg = tiny_pretrain_cfg(tmp_path / 'work', data, max_epochs=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = tmp_path / 'work' / 'epoch_1.pth'
    assert ckpt.is_file()
    # resume (torch.load with weights_only=True) continues from epoch 1
    cfg2 = tiny_pretrain_cfg(tmp_path / 'work', data, max_epochs=2)
    cfg2.resume, cfg2.load_from = True, str(ckpt)
    runner2 = Runner.from_cfg(cfg2)
    runner2.train()
    assert runner2.iter == 2 and runner2.epoch == 2
    assert runner2.model.target_net.steps.item() == 2
    assert (tmp_path / 'work' / 'epoch_2.pth').is_file()


def test_weights_only_load_of_runner_checkpoint_still_rejects_code(tmp_path):
    from mmengine.logging import HistoryBuffer

    import gtsa_mm  # noqa: F401
    good = tmp_path / 'good.pth'
    torch.save({'message_hub': {'log': HistoryBuffer([1.0, 2.0], [1, 1])}}, good)
    assert isinstance(torch.load(good)['message_hub']['log'], HistoryBuffer)

    class Evil:
        def __reduce__(self):
            return (print, ('pwned', ))

    bad = tmp_path / 'bad.pth'
    torch.save({'x': Evil()}, bad)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(bad)


def test_checkpoint_with_an_empty_history_buffer_loads(tmp_path):
    """An empty numpy array pickles as ``bytes()`` under protocol 2 (torch.save's):
    resume / load_from (MMEngine's _load_checkpoint) and GTSAPretrained read it."""
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

    import gtsa_mm  # noqa: F401
    from gtsa_mm.downstream import read_state_dict

    path = tmp_path / 'empty_buffer.pth'
    weights = {'backbone.cls_token': torch.ones(1, 1, 4)}
    save_checkpoint({'state_dict': weights, 'message_hub': dict(
        log_scalars={'train/loss': HistoryBuffer()})}, str(path))
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert len(loaded['message_hub']['log_scalars']['train/loss'].data[0]) == 0
    torch.testing.assert_close(read_state_dict(str(path))['backbone.cls_token'],
                               weights['backbone.cls_token'])


@pytest.mark.slow
def test_a_few_dozen_iterations_lower_the_loss(tmp_path):
    data = write_images(tmp_path / 'images', 8)
    cfg = tiny_pretrain_cfg(tmp_path / 'work', data, max_epochs=16, batch_size=4, lr=2e-3)
    cfg.default_hooks.checkpoint.interval = 100
    runner = Runner.from_cfg(cfg)
    runner.train()
    history = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(history) == 32
    first, last = history[:6].mean(), history[-6:].mean()
    assert last < first - 0.05, (first, last)
