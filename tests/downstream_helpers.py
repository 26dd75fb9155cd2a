"""Helpers of the downstream tests: a GTSA-layout checkpoint writer, tiny data sets and
config shrinking so MMDetection / MMSegmentation / MMPretrain configs run on a CPU.

The pytest fixtures wrapping them are in ``conftest.py``."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'

#: The ViT of the test checkpoint; every shrunk downstream config uses the same.
TINY_VIT = dict(embed_dims=64, num_layers=4, num_heads=2, feedforward_channels=128)
PATCH_SIZE = 16
PRETRAIN_IMG_SIZE = 224


def tiny_vit(**kwargs):
    """The tiny mmpretrain ViT of the test checkpoint (GTSA's backbone settings)."""
    from mmpretrain.models import VisionTransformer

    cfg = dict(arch=dict(TINY_VIT), img_size=PRETRAIN_IMG_SIZE, patch_size=PATCH_SIZE,
               out_type='featmap', with_cls_token=True, final_norm=True)
    cfg.update(kwargs)
    return VisionTransformer(**cfg)


def make_gtsa_checkpoint(path: Path) -> Path:
    """Write a checkpoint in the layout of a GTSA Runner checkpoint.

    Student ViT under ``backbone.``, teacher ViT (different weights) under
    ``target_net.module.0.``, projector / predictor / rotation-head stand-ins, and a
    ``message_hub`` with a ``HistoryBuffer`` and numpy scalars like a real one, so
    reading it goes through the same ``torch.load(weights_only=True)`` allowlist
    as a real Runner checkpoint.

    The ``gtsa_checkpoint`` fixture in ``conftest.py`` calls this; switch it there
    to a real tiny GTSA pretraining run once one exists, keeping ``TINY_VIT`` /
    ``PATCH_SIZE`` / ``PRETRAIN_IMG_SIZE`` equal to that run's backbone.
    """
    from mmengine.logging import HistoryBuffer

    torch.manual_seed(0)
    student, teacher = tiny_vit(), tiny_vit()
    with torch.no_grad():  # non-trivial values everywhere, teacher != student
        for p_s, p_t in zip(student.parameters(), teacher.parameters(), strict=True):
            p_s.normal_(0, 0.05)
            p_t.copy_(p_s + 0.01 * torch.randn_like(p_s))
    dims = TINY_VIT['embed_dims']
    state_dict = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state_dict.update({f'target_net.module.0.{k}': v for k, v in teacher.state_dict().items()})
    for name in ('neck.proj.weight', 'target_net.module.1.proj.weight'):
        state_dict[name] = torch.randn(2 * dims, dims, 1, 1)
    state_dict['predictor.conv.weight'] = torch.randn(2 * dims, 2 * dims, 1, 1)
    state_dict['rotation_head.fc.weight'] = torch.randn(4, dims)
    state_dict['target_net.steps'] = torch.tensor(2)
    loss = HistoryBuffer()
    loss.update(np.float64(1.25))
    loss.update(np.float64(1.0))
    checkpoint = dict(
        meta=dict(epoch=1, iter=2, seed=np.int64(0), mmengine_version='0.10.7'),
        state_dict=state_dict,
        message_hub=dict(log_scalars={'train/loss': loss},
                         runtime_info=dict(epoch=1, iter=2, max_iters=np.int64(2)),
                         resumed_keys=dict(epoch=True)),
        optimizer=dict(state={}, param_groups=[dict(lr=1e-3, params=[])]),
        param_schedulers=[dict(last_step=2)])
    torch.save(checkpoint, path)
    return path


# ----------------------------------------------------------------------------- data
def _scene(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    img += np.linspace(0, 120, w, dtype=np.uint8)[None, :, None]
    return img


def make_coco_tiny(root: Path) -> Path:
    """A COCO-format instance set: 2 train and 2 val images (128 x 160 / 160 x 128),
    two categories, each object a filled polygon drawn into the image."""
    rng = np.random.default_rng(0)
    categories = [dict(id=1, name='square'), dict(id=2, name='triangle')]
    for split in ('train', 'val'):
        (root / split).mkdir()
        images, annotations = [], []
        for i, (h, w) in enumerate([(128, 160), (160, 128)]):
            img = _scene(h, w, rng)
            shapes = [
                (1, np.array([[20, 20], [70, 20], [70, 70], [20, 70]])),
                (2, np.array([[80, 100], [120, 100], [100, 60]])),
            ]
            for cat_id, poly in shapes:
                cv2.fillPoly(img, [poly.astype(np.int32)], (40 + 100 * cat_id, 220, 60))
                x0, y0 = poly.min(0)
                x1, y1 = poly.max(0)
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=i + 1, category_id=cat_id, iscrowd=0,
                    segmentation=[poly.flatten().astype(float).tolist()],
                    area=float(cv2.contourArea(poly.astype(np.float32))),
                    bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)]))
            name = f'{split}_{i}.jpg'
            cv2.imwrite(str(root / split / name), img)
            images.append(dict(id=i + 1, file_name=name, height=h, width=w))
        (root / f'instances_{split}.json').write_text(
            json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    return root


def make_ade_tiny(root: Path) -> Path:
    """An ADE20K-format set: images/{training,validation}/*.jpg and label PNGs with
    values 0 (unlabelled) and 1-4, two 64 x 80 images per split."""
    rng = np.random.default_rng(1)
    for split in ('training', 'validation'):
        (root / 'images' / split).mkdir(parents=True)
        (root / 'annotations' / split).mkdir(parents=True)
        for i in range(2):
            img = _scene(64, 80, rng)
            label = np.zeros((64, 80), np.uint8)
            label[:32, :40], label[:32, 40:], label[32:, :40], label[40:, 50:] = 1, 2, 3, 4
            img[label == 2] = (200, 30, 30)
            img[label == 4] = (30, 200, 30)
            cv2.imwrite(str(root / 'images' / split / f'{split}_{i}.jpg'), img)
            cv2.imwrite(str(root / 'annotations' / split / f'{split}_{i}.png'), label)
    return root


def make_cls_tiny(root: Path) -> Path:
    """An image-list classification set: 6 classes, 6 train and 6 val 64 x 64 images,
    list files meta/train.txt and meta/val.txt of '<path> <label>' lines."""
    rng = np.random.default_rng(2)
    (root / 'images').mkdir()
    (root / 'meta').mkdir()
    for split in ('train', 'val'):
        lines = []
        for label in range(6):
            img = _scene(64, 64, rng)
            img[:, :, label % 3] = 40 * label
            name = f'images/{split}_{label}.png'
            cv2.imwrite(str(root / name), img)
            lines.append(f'{name} {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root


# --------------------------------------------------------------------- config shrinking
def load_config(relpath: str):
    """Load one of the shipped configs with mmengine."""
    from mmengine.config import Config

    return Config.fromfile(str(CONFIGS / relpath))


def shrink_backbone(cfg, checkpoint: Path | None, img_size: int) -> None:
    """Tiny ViT (the test checkpoint's arch), every 4-th out index of the 12-block
    layout mapped onto 4 blocks, the test checkpoint in init_cfg."""
    backbone = cfg.model.backbone
    backbone.arch = dict(TINY_VIT)
    backbone.patch_size = PATCH_SIZE
    backbone.img_size = img_size
    if 'out_indices' in backbone:
        backbone.out_indices = tuple(range(TINY_VIT['num_layers']))
    if backbone.get('frozen_stages', -1) > 0:
        backbone.frozen_stages = TINY_VIT['num_layers']
    backbone.init_cfg.checkpoint = None if checkpoint is None else str(checkpoint)


def shrink_runtime(cfg, work_dir: Path) -> None:
    """No workers, no checkpoint files, a private visualizer, logs in work_dir."""
    cfg.work_dir = str(work_dir)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[name].num_workers = 0
        cfg[name].persistent_workers = False
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer.name = f'visualizer_{uuid.uuid4().hex}'
    cfg.env_cfg.cudnn_benchmark = False
    cfg.launcher = 'none'


def replace_transform(pipeline: list, type_name: str, **fields) -> None:
    """Update every transform of ``type_name`` in ``pipeline`` in place."""
    hits = [t for t in pipeline if t['type'] == type_name]
    assert hits, f'no {type_name} in the pipeline'
    for transform in hits:
        transform.update(fields)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def assert_backbone_loaded(backbone: torch.nn.Module, state_dict: dict,
                           prefix: str = 'backbone.') -> int:
    """Assert every tensor of ``backbone`` equals the checkpoint's (``pos_embed`` as
    resized by mmpretrain's ``resize_pos_embed``); return how many were compared."""
    from mmpretrain.models.utils import resize_pos_embed

    own = backbone.state_dict()
    for key, value in own.items():
        expected = state_dict[prefix + key]
        if key == 'pos_embed' and expected.shape != value.shape:
            side = int((expected.shape[1] - backbone.num_extra_tokens) ** 0.5)
            expected = resize_pos_embed(expected, (side, side), backbone.patch_resolution,
                                        mode=backbone.interpolate_mode,
                                        num_extra_tokens=backbone.num_extra_tokens)
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=f'{key} not loaded')
    return len(own)


def build_runner(cfg):
    """An MMEngine Runner for ``cfg`` whose model weights are initialised now."""
    from mmengine.runner import Runner

    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()  # Runner.train() calls it again; it is then a no-op
    return runner


# ------------------------------------------------------------- the shipped configs, shrunk
MASK_RCNN = 'mmdet/mask-rcnn_vit-small-p16-gtsa_fpn_1x_coco.py'
UPERNET = 'mmseg/upernet_vit-small-p16-gtsa_8xb2-160k_ade20k-512x512.py'
SEM_FPN = 'mmseg/fpn_vit-small-p16-gtsa_8xb2-40k_ade20k-512x512.py'
FINETUNE = 'classification/vit-small-p16-gtsa_8xb64-coslr-300e_inat2019.py'
LINEAR = 'classification/vit-small-p16-gtsa_linear-8xb128-coslr-90e_in1k.py'
ALL_CONFIGS = (MASK_RCNN, UPERNET, SEM_FPN, FINETUNE, LINEAR)

_DIMS = TINY_VIT['embed_dims']


def tiny_mask_rcnn_cfg(checkpoint, coco: Path, work_dir: Path):
    """The Mask R-CNN config on :func:`make_coco_tiny` data at 128-160 px, 1 iteration."""
    cfg = load_config(MASK_RCNN)
    shrink_backbone(cfg, checkpoint, img_size=PRETRAIN_IMG_SIZE)
    cfg.model.neck[0].embed_dim = _DIMS
    cfg.model.neck[1].in_channels = [_DIMS] * 4
    cfg.model.roi_head.bbox_head.num_classes = 2
    cfg.model.roi_head.mask_head.num_classes = 2
    # fewer proposals and RoIs: the 256-channel heads dominate CPU time
    cfg.model.train_cfg.rpn_proposal.max_per_img = 200
    cfg.model.train_cfg.rcnn.sampler.num = 64
    cfg.model.test_cfg.rpn.max_per_img = 100
    cfg.model.test_cfg.rcnn.max_per_img = 10
    metainfo = dict(classes=('square', 'triangle'))
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        loader.dataset.update(data_root=str(coco), ann_file=f'instances_{split}.json',
                              data_prefix=dict(img=f'{split}/'), metainfo=metainfo)
    replace_transform(cfg.train_dataloader.dataset.pipeline, 'RandomChoiceResize',
                      scales=[(160, 96), (160, 128)])
    replace_transform(cfg.val_dataloader.dataset.pipeline, 'Resize', scale=(160, 128))
    cfg.train_dataloader.batch_size = 2
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator.ann_file = str(coco / 'instances_val.json')
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_begin=100)
    shrink_runtime(cfg, work_dir)
    return cfg


def _ade_data(cfg, ade: Path) -> None:
    for split, loader in (('training', cfg.train_dataloader),
                          ('validation', cfg.val_dataloader)):
        loader.dataset.update(data_root=str(ade), data_prefix=dict(
            img_path=f'images/{split}', seg_map_path=f'annotations/{split}'))
    replace_transform(cfg.train_dataloader.dataset.pipeline, 'RandomResize', scale=(128, 64))
    replace_transform(cfg.train_dataloader.dataset.pipeline, 'RandomCrop', crop_size=(64, 64))
    replace_transform(cfg.val_dataloader.dataset.pipeline, 'Resize', scale=(128, 64))
    cfg.test_dataloader = cfg.val_dataloader
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1, val_begin=100)


def tiny_upernet_cfg(checkpoint, ade: Path, work_dir: Path):
    """The UperNet config on :func:`make_ade_tiny` data, 64 px crops, 1 iteration."""
    cfg = load_config(UPERNET)
    shrink_backbone(cfg, checkpoint, img_size=64)
    cfg.model.neck.update(in_channels=[_DIMS] * 4, out_channels=_DIMS)
    cfg.model.decode_head.update(in_channels=[_DIMS] * 4, channels=32)
    cfg.model.auxiliary_head.update(in_channels=_DIMS, channels=16)
    _ade_data(cfg, ade)
    shrink_runtime(cfg, work_dir)
    return cfg


def tiny_sem_fpn_cfg(checkpoint, ade: Path, work_dir: Path):
    """The Semantic FPN config on :func:`make_ade_tiny` data, 64 px crops, 1 iteration."""
    cfg = load_config(SEM_FPN)
    shrink_backbone(cfg, checkpoint, img_size=64)
    cfg.model.neck[0].embed_dim = _DIMS
    cfg.model.neck[1].update(in_channels=[_DIMS] * 4, out_channels=32)
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=32)
    _ade_data(cfg, ade)
    shrink_runtime(cfg, work_dir)
    return cfg


def _cls_data(cfg, data: Path) -> None:
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        pipeline = loader.dataset.pipeline
        loader.dataset = dict(type='CustomDataset', data_root=str(data),
                              ann_file=f'meta/{split}.txt', data_prefix='', pipeline=pipeline)
    replace_transform(cfg.train_dataloader.dataset.pipeline, 'RandomResizedCrop', scale=64)
    replace_transform(cfg.val_dataloader.dataset.pipeline, 'ResizeEdge', scale=72)
    replace_transform(cfg.val_dataloader.dataset.pipeline, 'CenterCrop', crop_size=64)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_dataloader.batch_size = 6
    cfg.data_preprocessor.num_classes = 6
    cfg.model.head.update(num_classes=6, in_channels=_DIMS)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_begin=100)


def tiny_finetune_cfg(checkpoint, data: Path, work_dir: Path):
    """The iNat-2019 fine-tuning config on :func:`make_cls_tiny` data, 1 iteration."""
    cfg = load_config(FINETUNE)
    shrink_backbone(cfg, checkpoint, img_size=64)
    _cls_data(cfg, data)
    shrink_runtime(cfg, work_dir)
    return cfg


def tiny_linear_cfg(checkpoint, data: Path, work_dir: Path):
    """The linear-probe config on :func:`make_cls_tiny` data, 1 iteration."""
    cfg = load_config(LINEAR)
    shrink_backbone(cfg, checkpoint, img_size=64)
    cfg.model.neck[1].input_features = _DIMS
    _cls_data(cfg, data)
    shrink_runtime(cfg, work_dir)
    return cfg
