"""The demo's stages: GTSA pretraining, then for each seed Mask R-CNN, UperNet and
label-scarce UperNet fine-tunes from the GTSA backbone and from random initialisation.

Every stage is one of the demo configs in ``configs/`` with the data roots, the seed, the
backbone init and (``--quick`` or an override flag) a shorter schedule set on it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .jobs import REPO, Stage
from .schedules import set_pretrain_epochs

PRETRAIN_CONFIG = REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py'
DET_CONFIG = REPO / 'configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py'
SEG_CONFIG = REPO / 'configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py'
SEG_LOW_LABEL_CONFIG = (REPO / 'configs/mmseg'
                        / 'upernet_vit-tiny-p8-gtsa_1xb4-300i_demo-128x128-1of8.py')

#: Seeds of the fine-tunes and probes: seed ``s`` sets the Runner's seed (head init, data
#: order, and for ``scratch`` the backbone's random init) and the label subsets.
SEEDS = (0, 1, 2)
QUICK_SEEDS = (0, 1)
#: The label-scarce UperNet sees this fraction of the labelled training images.
LOW_LABEL_FRACTION = 1 / 8
#: The two backbone inits every fine-tune runs from.
INITS = ('gtsa', 'scratch')
#: The fine-tune kinds, in the order they are scheduled (longest first).
FINETUNES = ('det', 'seg', 'seg_low_label')
#: What each fine-tune kind reports: results.json key -> the Runner's metric.
METRICS = {'det': {'bbox_mAP': 'coco/bbox_mAP', 'segm_mAP': 'coco/segm_mAP'},
           'seg': {'mIoU': 'mIoU'},
           'seg_low_label': {'mIoU_low_label': 'mIoU'}}


@dataclass
class Settings:
    """How long each stage trains, on how many images (None: the whole split), seeds."""
    pretrain_epochs: int
    det_epochs: int
    seg_iters: int
    seg_low_label_iters: int
    seeds: tuple[int, ...] = SEEDS
    low_label_fraction: float = LOW_LABEL_FRACTION
    pretrain_images: int | None = None
    train_images: int | None = None
    val_images: int | None = None
    pretrain_batch: int | None = None  # None: the config's
    det_batch: int | None = None
    seg_batch: int | None = None
    log_interval: int | None = None


def _config(path: Path):
    from mmengine.config import Config
    return Config.fromfile(str(path))


def default_settings(quick: bool) -> Settings:
    """The demo's settings: the demo configs' schedules, or a few iterations of each."""
    if quick:
        return Settings(pretrain_epochs=1, det_epochs=1, seg_iters=4, seg_low_label_iters=4,
                        seeds=QUICK_SEEDS, pretrain_images=16, train_images=8, val_images=4,
                        pretrain_batch=8, det_batch=4, seg_batch=2, log_interval=1)
    return Settings(
        pretrain_epochs=_config(PRETRAIN_CONFIG).train_cfg.max_epochs,
        det_epochs=_config(DET_CONFIG).train_cfg.max_epochs,
        seg_iters=_config(SEG_CONFIG).train_cfg.max_iters,
        seg_low_label_iters=_config(SEG_LOW_LABEL_CONFIG).train_cfg.max_iters)


def low_label_indices(num_train: int, fraction: float, seed: int) -> list[int]:
    """The seed's subset of ``fraction`` of ``num_train`` labelled images (sorted indices)."""
    count = max(1, round(num_train * fraction))
    rng = np.random.default_rng([seed, 8])  # its own stream: not the probes' subsets
    return sorted(int(i) for i in rng.choice(num_train, count, replace=False))


# ------------------------------------------------------------------------------ configs
def pretrain_config(settings: Settings, data_root: Path, work_dir: Path):
    """The GTSA demo config with ``settings``' schedule and data."""
    cfg = _config(PRETRAIN_CONFIG)
    epochs = settings.pretrain_epochs
    if epochs != cfg.train_cfg.max_epochs:
        set_pretrain_epochs(cfg, epochs, warmup_epochs=min(cfg.warmup_epochs, epochs - 1))
    loader = cfg.train_dataloader
    loader.dataset.data_root = str(data_root / 'pretrain')
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == 'DenseProbeHook':
            hook.data_root = str(data_root / 'ade')
    if settings.pretrain_images:
        loader.dataset.indices = settings.pretrain_images
    if settings.pretrain_batch:
        loader.batch_size = settings.pretrain_batch
    _common_runtime(cfg, settings, work_dir)
    return cfg


def det_config(settings: Settings, data_root: Path, work_dir: Path, checkpoint: Path | None,
               seed: int = 0):
    """The Mask R-CNN demo config: GTSA init from ``checkpoint``, or random (None)."""
    cfg = _config(DET_CONFIG)
    epochs = settings.det_epochs
    if epochs != cfg.train_cfg.max_epochs:
        for scheduler in cfg.param_scheduler:
            if scheduler.type == 'MultiStepLR':
                scheduler.update(end=epochs, milestones=[max(epochs * 3 // 4, 1)])
        cfg.train_cfg.update(max_epochs=epochs, val_interval=epochs)
        cfg.default_hooks.checkpoint.interval = epochs
    coco = data_root / 'coco'
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        evaluator.ann_file = str(coco / 'annotations' / 'instances_val.json')
    _finetune_runtime(cfg, settings, coco, settings.det_batch, checkpoint, work_dir, seed)
    return cfg


def seg_config(settings: Settings, data_root: Path, work_dir: Path, checkpoint: Path | None,
               seed: int = 0, low_label: bool = False, num_train: int | None = None):
    """The UperNet demo config: GTSA init from ``checkpoint``, or random (None).

    ``low_label``: the label-scarce config, trained on the seed's subset of
    ``settings.low_label_fraction`` of the ``num_train`` labelled images.
    """
    cfg = _config(SEG_LOW_LABEL_CONFIG if low_label else SEG_CONFIG)
    iters = settings.seg_low_label_iters if low_label else settings.seg_iters
    if iters != cfg.train_cfg.max_iters:
        by_type = {scheduler.type: scheduler for scheduler in cfg.param_scheduler}
        warmup = min(by_type['LinearLR'].end, iters // 4)
        by_type['LinearLR'].end = warmup
        by_type['PolyLR'].update(begin=warmup, end=iters)
        if warmup < 2:  # too short to warm up: the decay alone
            cfg.param_scheduler = [by_type['PolyLR']]
        cfg.train_cfg.update(max_iters=iters, val_interval=iters)
        cfg.default_hooks.checkpoint.interval = iters
    _finetune_runtime(cfg, settings, data_root / 'ade', settings.seg_batch, checkpoint,
                      work_dir, seed)
    if low_label:
        if num_train is None:
            raise ValueError('seg_config(low_label=True) needs num_train, the number of '
                             'labelled training images')
        cfg.train_dataloader.dataset.indices = low_label_indices(
            settings.train_images or num_train, settings.low_label_fraction, seed)
    return cfg


def _finetune_runtime(cfg, settings: Settings, dataset_root: Path, batch: int | None,
                      checkpoint: Path | None, work_dir: Path, seed: int) -> None:
    """Data root, subset, batch, backbone init, seed and work dir of both fine-tunes."""
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(dataset_root)
    if settings.train_images:
        cfg.train_dataloader.dataset.indices = settings.train_images
    if settings.val_images:
        cfg.val_dataloader.dataset.indices = settings.val_images
        cfg.test_dataloader.dataset.indices = settings.val_images
    if batch:
        cfg.train_dataloader.batch_size = batch
    if checkpoint is None:
        cfg.model.backbone.init_cfg = None  # random initialisation, on purpose
    else:
        cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    cfg.randomness = dict(cfg.get('randomness', {}), seed=seed)
    _common_runtime(cfg, settings, work_dir)


def _common_runtime(cfg, settings: Settings, work_dir: Path) -> None:
    cfg.work_dir = str(work_dir)
    if settings.log_interval:
        cfg.default_hooks.logger.interval = settings.log_interval


# ------------------------------------------------------------------------------- stages
#: LOW_LABEL_FRACTION as a fraction of labels for titles: '1/8'
LOW_LABEL_TEXT = f'1/{round(1 / LOW_LABEL_FRACTION)}'
TITLES = {'det': 'Mask R-CNN fine-tune + COCO eval',
          'seg': 'UperNet fine-tune + mIoU eval',
          'seg_low_label': f'UperNet on {LOW_LABEL_TEXT} of the labels + mIoU eval'}


def stage_name(kind: str, init: str, seed: int) -> str:
    return f'{kind}_{init}_seed{seed}'


def build_stages(settings: Settings, data_root: Path, work_dir: Path,
                 pretrained: Path | None, scratch: bool,
                 num_train: int) -> tuple[list[Stage], Path]:
    """The stages in order of priority, and the GTSA checkpoint the fine-tunes load.

    Fine-tunes of seed ``s`` write to ``<work_dir>/<kind>_<init>/seed<s>``; the
    random-init ones do not wait for pretraining. ``num_train``: the labelled training
    images the label-scarce subsets are drawn from.
    """
    stages = []
    if pretrained is None:
        cfg = pretrain_config(settings, data_root, work_dir / 'pretrain')
        stages.append(Stage('pretrain', 'GTSA pretraining', cfg))
        checkpoint = work_dir / 'pretrain' / f'epoch_{settings.pretrain_epochs}.pth'
        needs = ('pretrain',)
    else:
        checkpoint, needs = pretrained.resolve(), ()
    inits = INITS if scratch else INITS[:1]
    for seed in settings.seeds:
        for kind in FINETUNES:
            for init in inits:
                init_checkpoint = checkpoint if init == 'gtsa' else None
                out = work_dir / f'{kind}_{init}' / f'seed{seed}'
                if kind == 'det':
                    cfg = det_config(settings, data_root, out, init_checkpoint, seed)
                else:
                    cfg = seg_config(settings, data_root, out, init_checkpoint, seed,
                                     low_label=kind == 'seg_low_label', num_train=num_train)
                who = 'GTSA backbone' if init == 'gtsa' else 'random init'
                stages.append(Stage(stage_name(kind, init, seed),
                                    f'{TITLES[kind]}, {who}, seed {seed}', cfg,
                                    needs if init == 'gtsa' else ()))
    return stages, checkpoint


def stages_of(stages: Sequence[Stage], kind: str, init: str) -> list[Stage]:
    """The seeds' stages of one fine-tune kind and init, in seed order."""
    prefix = f'{kind}_{init}_seed'
    return [s for s in stages if s.name.startswith(prefix)
            and s.name[len(prefix):].isdigit()]
