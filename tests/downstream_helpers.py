"""Helpers of the downstream tests: a GTSA-layout checkpoint writer, tiny data sets and
config shrinking so MMDetection / MMSegmentation / MMPretrain configs run on a CPU.

The pytest fixtures wrapping them are in ``conftest.py``."""
from __future__ import annotations

import argparse
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


# ------------------------------------------------ checkpoints of other codebases' layouts
#: timm's ``VisionTransformer`` arguments of the ViT of ``TINY_VIT`` (the ViT of the
#: GTSA authors and of DINO have timm's key names and computation).
TIMM_TINY_VIT = dict(img_size=PRETRAIN_IMG_SIZE, patch_size=PATCH_SIZE,
                     embed_dim=TINY_VIT['embed_dims'], depth=TINY_VIT['num_layers'],
                     num_heads=TINY_VIT['num_heads'],
                     mlp_ratio=TINY_VIT['feedforward_channels'] / TINY_VIT['embed_dims'],
                     qkv_bias=True, num_classes=0)


def timm_vit(**kwargs):
    """A timm ``VisionTransformer`` (``TIMM_TINY_VIT`` unless overridden)."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(**{**TIMM_TINY_VIT, **kwargs})


def randomise_(module: torch.nn.Module, seed: int, std: float = 0.05) -> torch.nn.Module:
    """Fill every parameter with seeded noise: norm weights ``1 + noise``, the rest
    ``noise``, so that no two modules (student, teacher) share a value."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            norm_weight = name.endswith('weight') and param.ndim == 1
            param.normal_(1.0 if norm_weight else 0.0, std, generator=generator)
    return module


class ChannelsLast(torch.nn.Module):
    """The authors' ``TransposeLast(tranpose_dim=-3)``: swaps the channel and last axes."""

    def forward(self, x):
        return x.transpose(-3, -1)


def authors_conv_block(in_dim: int, dim: int) -> torch.nn.Sequential:
    """The authors' ``make_block``: 3x3 conv, LayerNorm over channels (no affine), GELU."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(in_dim, dim, 3, padding=1), ChannelsLast(),
                         nn.LayerNorm(dim, elementwise_affine=False), ChannelsLast(), nn.GELU())


class AuthorsProjector(torch.nn.Module):
    """A restatement of the authors' ``Projector``: their key names (``blocks.i.0``,
    ``proj``); it reads the ViT's patch tokens ``(N, T, C)``, and a block's residual is
    added only where the block keeps the width."""

    def __init__(self, in_dim: int, dim: int, out_dim: int, num_blocks: int = 2):
        super().__init__()
        self.blocks = torch.nn.Sequential(*[authors_conv_block(in_dim if i == 0 else dim, dim)
                                            for i in range(num_blocks)])
        self.proj = torch.nn.Conv2d(dim, out_dim, 1)

    def forward(self, tokens):
        n, t, c = tokens.shape
        side = int(round(t ** 0.5))
        x = tokens.transpose(1, 2).reshape(n, c, side, side)
        for block in self.blocks:
            y = block(x)
            x = y + x if y.shape[1] == x.shape[1] else y
        return self.proj(x)


class AuthorsPredictor(torch.nn.Module):
    """A restatement of the authors' ``Predictor``: ``blocks.0`` then a 1x1 ``proj``,
    no residual."""

    def __init__(self, in_dim: int, dim: int, out_dim: int):
        super().__init__()
        self.blocks = torch.nn.Sequential(authors_conv_block(in_dim, dim))
        self.proj = torch.nn.Conv2d(dim, out_dim, 1)

    def forward(self, x):
        return self.proj(self.blocks(x))


class AuthorsGTSA(torch.nn.Module):
    """A restatement of the authors' ``GTSA`` module (bok3948/GTSA
    ``model_pretrain/gtsa.py``) with their attribute names, so that ``state_dict()`` has
    the keys of their checkpoints' ``model``. The ViTs are timm's (same names and
    computation as their DINO-derived ViT); their forward returns the normed patch tokens.
    """

    def __init__(self, vit: dict | None = None, projector_dim: int | None = None,
                 out_dim: int = 48, predictor_dim: int = 48, rot_hidden: int = 32,
                 rot_bottleneck: int = 16):
        super().__init__()
        from torch import nn

        vit = {**TIMM_TINY_VIT, 'weight_init': 'skip', **(vit or {})}  # randomise_ fills them
        dim = vit['embed_dim']
        projector_dim = projector_dim or dim
        self.base_encoder = timm_vit(**vit)
        self.base_projector = AuthorsProjector(dim, projector_dim, out_dim)
        self.base_predictor = AuthorsPredictor(out_dim, predictor_dim, out_dim)
        self.momentum_encoder = timm_vit(**vit)
        self.momentum_projector = AuthorsProjector(dim, projector_dim, out_dim)
        self.rot_predictor = nn.Sequential(
            nn.Linear(dim, rot_hidden), nn.LayerNorm(rot_hidden), nn.GELU(),
            nn.Linear(rot_hidden, rot_hidden), nn.LayerNorm(rot_hidden), nn.GELU(),
            nn.Linear(rot_hidden, rot_bottleneck), nn.LayerNorm(rot_bottleneck),
            nn.Linear(rot_bottleneck, 4))

    @staticmethod
    def tokens(vit, x):
        return vit.forward_features(x)[:, 1:]

    def student(self, x):
        """Backbone tokens, predictor map and rotation logits of the student."""
        tokens = self.tokens(self.base_encoder, x)
        return tokens, self.base_predictor(self.base_projector(tokens)), \
            self.rot_predictor(tokens.mean(dim=1))

    def teacher(self, x):
        """The teacher's projector map."""
        return self.momentum_projector(self.tokens(self.momentum_encoder, x))


def make_authors_gtsa(seed: int = 0, **kwargs) -> AuthorsGTSA:
    """An :class:`AuthorsGTSA` with seeded random weights, the teacher's different from
    the student's (as after pretraining: a swap shows)."""
    model = AuthorsGTSA(**kwargs)
    randomise_(model, seed)
    return model.eval()


def authors_args() -> argparse.Namespace:
    """The ``args`` their ``save_model`` pickles (a part of main_pretrain.py's options)."""
    return argparse.Namespace(
        model='gtsa_small', batch_size=64, input_size=(224, 224), patch_size=16,
        size_crops=[224, 96], num_crops=[2, 8], roi_out_size=[10, 4], num_matches=(98, 18),
        pc_loss_coef=0.5, rot_pre_coef=0.5, blr=5e-4, epochs=100, warmup_epochs=10,
        use_fp16=True, output_dir='./checkpoint_pretrain', distributed=True, gpu=0)


def authors_gtsa_checkpoint(model: AuthorsGTSA, epoch: int = 99) -> dict:
    """The dict their ``util/misc.py`` ``save_model`` writes for ``model``."""
    return dict(model=model.state_dict(),
                optimizer=dict(state={}, param_groups=[dict(lr=5e-4, weight_decay=0.04,
                                                            params=[0, 1])]),
                epoch=epoch,
                scaler=dict(scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                            growth_interval=2000, _growth_tracker=7),
                args=authors_args())


def dino_checkpoint(student: dict, teacher: dict, out_dim: int = 32) -> dict:
    """A full checkpoint as DINO's ``main_dino.py`` writes it: a DDP-wrapped student
    (``module.backbone.*``, ``module.head.*``), the teacher unwrapped (``backbone.*``,
    ``head.*``), optimizer, epoch, args, the loss's ``center``, the fp16 scaler."""
    dims = next(v for k, v in student.items() if k == 'cls_token').shape[-1]
    head = {'mlp.0.weight': torch.randn(64, dims), 'mlp.0.bias': torch.zeros(64),
            'last_layer.weight_g': torch.ones(out_dim, 1),
            'last_layer.weight_v': torch.randn(out_dim, 64)}
    return dict(
        student={**{f'module.backbone.{k}': v for k, v in student.items()},
                 **{f'module.head.{k}': v.clone() for k, v in head.items()}},
        teacher={**{f'backbone.{k}': v for k, v in teacher.items()},
                 **{f'head.{k}': v.clone() for k, v in head.items()}},
        optimizer=dict(state={}, param_groups=[dict(lr=5e-4, params=[0])]),
        epoch=100,
        args=argparse.Namespace(arch='vit_small', patch_size=16, out_dim=out_dim,
                                momentum_teacher=0.996, local_crops_number=8),
        dino_loss=dict(center=torch.zeros(1, out_dim)),
        fp16_scaler=dict(scale=1024.0, growth_factor=2.0, backoff_factor=0.5,
                         growth_interval=2000, _growth_tracker=3))


def mmpretrain_keys_of_timm(timm_state_dict: dict) -> dict:
    """``timm_state_dict`` under the mmpretrain names of :func:`tiny_vit`'s keys, renamed
    with the forward mapping ``timm_key`` (checked against timm in test_extract_backbone)."""
    from gtsa_mm.downstream import timm_key

    return {key: timm_state_dict[timm_key(key)] for key in tiny_vit().state_dict()}
