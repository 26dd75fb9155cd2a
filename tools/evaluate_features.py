#!/usr/bin/env python
"""Cheap frozen-feature probes of pretrained ViT backbones on the demo ADE-style data.

    python tools/evaluate_features.py work_dirs/gtsa_demo/epoch_40.pth random \\
        --data-root data/demo --out work_dirs/probes.json

Each CHECKPOINT is a Runner checkpoint of GTSA or DINO pretraining (its student
``backbone.*``, or with ``--teacher`` the EMA teacher ``target_net.module.0.*``), or
``random`` for a randomly initialised backbone of the same architecture. The backbone
(``mmpretrain.VisionTransformer``, ``out_type='featmap'``) comes from the config text
the Runner stored in the checkpoint (``meta['cfg']``), or from ``--config``.

The backbone stays frozen; images are resized to ``--img-size`` (default: the
backbone's ``img_size``, i.e. the pretraining global crop) and its patch-token map is
computed once. Three linear probes are fitted on the training split and scored on the
validation split; each is a closed-form ridge least-squares classifier on standardised
features (one-hot targets, ``--alpha``), so the numbers are deterministic:

* ``seg_miou`` / ``seg_acc``: a 1x1 linear classifier on patch tokens, trained on each
  patch's majority label; its logits are upsampled bilinearly to the label maps and
  scored with mIoU over classes 1..K and pixel accuracy. Label 0 ("other": sky, ground,
  clutter) is ignored in training and scoring, as MMSegmentation's
  ``reduce_zero_label=True`` does for ADE20K.
* ``pos_acc``: a linear classifier predicts each patch's row and column from its token;
  mean of row and column accuracy (chance ``1 / grid side``).
* ``rot_acc``: a linear classifier on mean-pooled tokens of a seeded random crop
  (``--rot-crop`` of the image side; whole images make it trivial on the demo scenes,
  whose sky is always on top) turned by 0/90/180/270 degrees predicts the turn
  (chance 0.25).

Chance levels are written next to the numbers.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

RANDOM = 'random'
DEFAULT_MEAN = (123.675, 116.28, 103.53)
DEFAULT_STD = (58.395, 57.12, 57.375)
SPLITS = {'train': 'training', 'val': 'validation'}


# --------------------------------------------------------------------------- probes
def standardize(train: Tensor, *others: Tensor) -> list[Tensor]:
    """Scale features (last dim) by the training set's mean and std."""
    mean = train.mean(0, keepdim=True)
    std = train.std(0, keepdim=True).clamp_min(1e-6)
    return [(x - mean) / std for x in (train, *others)]


class RidgeClassifier:
    """Closed-form linear probe: least squares onto one-hot targets, ridge-regularised.

    ``W = (X^T X + alpha N I)^-1 X^T Y`` in float64 (with a bias column); the
    prediction is ``argmax(X W)``. No iterations, no randomness.
    """

    def __init__(self, features: Tensor, targets: Tensor, num_classes: int,
                 alpha: float = 1e-3) -> None:
        x = torch.cat([features.double(), torch.ones(len(features), 1, dtype=torch.float64)], 1)
        y = F.one_hot(targets.long(), num_classes).double()
        gram = x.T @ x + alpha * len(x) * torch.eye(x.shape[1], dtype=torch.float64)
        self.weight = torch.linalg.solve(gram, x.T @ y)

    def scores(self, features: Tensor) -> Tensor:
        return features.double() @ self.weight[:-1] + self.weight[-1]

    def predict(self, features: Tensor) -> Tensor:
        return self.scores(features).argmax(1)


def patch_majority_labels(labels: np.ndarray, grid: tuple[int, int],
                          num_classes: int) -> np.ndarray:
    """(N, H, W) label maps -> (N, h, w) most frequent label of each patch cell."""
    n, height, width = labels.shape
    h, w = grid
    rows = np.minimum(np.arange(height) * h // height, h - 1)
    cols = np.minimum(np.arange(width) * w // width, w - 1)
    cell = rows[:, None] * w + cols[None, :]  # (H, W) cell index of each pixel
    index = (np.arange(n)[:, None, None] * (h * w) + cell[None]) * (num_classes + 1) \
        + labels.astype(np.int64)
    counts = np.bincount(index.ravel(), minlength=n * h * w * (num_classes + 1))
    return counts.reshape(n, h, w, num_classes + 1).argmax(-1)


def mean_iou(pred: np.ndarray, gt: np.ndarray, num_classes: int,
             ignore_index: int = 0) -> tuple[float, float, list[float]]:
    """mIoU over classes 1..num_classes and pixel accuracy, ``ignore_index`` pixels skipped.

    Classes that appear neither in ``gt`` nor in ``pred`` are left out of the mean.
    """
    valid = gt != ignore_index
    p, g = pred[valid].astype(np.int64), gt[valid].astype(np.int64)
    size = num_classes + 1
    confusion = np.bincount(g * size + p, minlength=size * size).reshape(size, size)
    inter = np.diag(confusion)[1:].astype(np.float64)
    union = (confusion.sum(0) + confusion.sum(1))[1:] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    miou = float(np.nanmean(iou)) if np.any(union > 0) else float('nan')
    acc = float(inter.sum() / max(valid.sum(), 1))
    return miou, acc, [float(x) for x in iou]


def segmentation_probe(train_feats: Tensor, train_labels: np.ndarray, val_feats: Tensor,
                       val_labels: np.ndarray, num_classes: int, alpha: float = 1e-3) -> dict:
    """Linear 1x1 segmentation probe on (N, C, h, w) tokens; labels (N, H, W) in 0..K."""
    _, dims, h, w = train_feats.shape
    patch_labels = torch.from_numpy(patch_majority_labels(train_labels, (h, w), num_classes))
    x = train_feats.permute(0, 2, 3, 1).reshape(-1, dims)
    y = patch_labels.reshape(-1)
    keep = y > 0  # majority-"other" patches carry no class to learn
    xv = val_feats.permute(0, 2, 3, 1).reshape(-1, dims)
    x, xv = standardize(x, xv)
    if not bool(keep.any()):
        return dict(seg_miou=float('nan'), seg_acc=float('nan'), seg_iou=[])
    probe = RidgeClassifier(x[keep], y[keep] - 1, num_classes, alpha)
    scores = probe.scores(xv).float().reshape(len(val_feats), h, w, num_classes)
    scores = F.interpolate(scores.permute(0, 3, 1, 2), size=val_labels.shape[1:],
                           mode='bilinear', align_corners=False)
    pred = scores.argmax(1).numpy() + 1
    miou, acc, iou = mean_iou(pred, val_labels, num_classes)
    return dict(seg_miou=miou, seg_acc=acc, seg_iou=iou)


def position_probe(train_feats: Tensor, val_feats: Tensor, alpha: float = 1e-3) -> dict:
    """Predict each patch's row and column from its token; mean accuracy of the two."""
    _, dims, h, w = train_feats.shape

    def flat(feats: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n = len(feats)
        rows = torch.arange(h).view(1, h, 1).expand(n, h, w).reshape(-1)
        cols = torch.arange(w).view(1, 1, w).expand(n, h, w).reshape(-1)
        return feats.permute(0, 2, 3, 1).reshape(-1, dims), rows, cols

    x, rows, cols = flat(train_feats)
    xv, rows_v, cols_v = flat(val_feats)
    x, xv = standardize(x, xv)
    accs = []
    for target, target_v, side in ((rows, rows_v, h), (cols, cols_v, w)):
        probe = RidgeClassifier(x, target, side, alpha)
        accs.append(float((probe.predict(xv) == target_v).float().mean()))
    return dict(pos_acc=sum(accs) / 2, pos_row_acc=accs[0], pos_col_acc=accs[1],
                pos_chance=(1 / h + 1 / w) / 2)


def rotation_probe(train_pooled: Tensor, train_turns: Tensor, val_pooled: Tensor,
                   val_turns: Tensor, alpha: float = 1e-3) -> dict:
    """4-way turn classifier on mean-pooled tokens (N, C); chance 0.25."""
    x, xv = standardize(train_pooled, val_pooled)
    probe = RidgeClassifier(x, train_turns, 4, alpha)
    acc = float((probe.predict(xv) == val_turns).float().mean())
    return dict(rot_acc=acc, rot_chance=0.25)


# --------------------------------------------------------------------------- data
def load_split(data_root: Path, split: str, limit: int | None = None
               ) -> tuple[list[np.ndarray], np.ndarray]:
    """RGB images and uint8 label maps of ``ade/{images,annotations}/<split>``."""
    ade = SPLITS[split]
    image_dir = data_root / 'ade' / 'images' / ade
    label_dir = data_root / 'ade' / 'annotations' / ade
    paths = sorted(image_dir.glob('*.jpg'))[:limit]
    if not paths:
        raise FileNotFoundError(f'no images in {image_dir} (make them with '
                                'tools/make_demo_data.py)')
    images, labels = [], []
    for path in paths:
        images.append(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
        label = cv2.imread(str(label_dir / f'{path.stem}.png'), cv2.IMREAD_UNCHANGED)
        if label is None:
            raise FileNotFoundError(f'missing label map {label_dir / path.stem}.png')
        labels.append(label)
    return images, np.stack(labels)


def num_classes_of(data_root: Path, labels: np.ndarray) -> int:
    try:
        return len(json.loads((data_root / 'meta.json').read_text())['classes'])
    except (OSError, ValueError, KeyError):
        return int(labels.max())


def to_batch(images: Sequence[np.ndarray], size: int, mean: Sequence[float],
             std: Sequence[float]) -> Tensor:
    """Resize RGB uint8 images to size x size and normalise: (N, 3, size, size)."""
    resized = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA)
                        for im in images]).astype(np.float32)
    batch = torch.from_numpy(resized).permute(0, 3, 1, 2)
    return (batch - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@torch.no_grad()
def extract(backbone: torch.nn.Module, batch: Tensor, device: str,
            batch_size: int = 32) -> Tensor:
    """(N, 3, S, S) -> (N, C, h, w) patch-token maps on the CPU."""
    outs = []
    for start in range(0, len(batch), batch_size):
        feats = backbone(batch[start:start + batch_size].to(device))
        outs.append(feats[-1].float().cpu())
    return torch.cat(outs)


# --------------------------------------------------------------------------- models
def read_config_text(checkpoint: str) -> str | None:
    """The config text the MMEngine Runner stored in ``meta['cfg']``, if any."""
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True, mmap=True)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    cfg = meta.get('cfg') if isinstance(meta, dict) else None
    return cfg if isinstance(cfg, str) else None


def model_config(checkpoint: str | None, config: str | None, arch: str | None = None,
                 patch_size: int = 16):
    """``cfg.model`` from ``--arch`` or ``--config`` if given, else the checkpoint's meta."""
    from mmengine.config import Config, ConfigDict

    if arch:
        return ConfigDict(backbone=dict(type='VisionTransformer', arch=arch,
                                        patch_size=patch_size, img_size=224))
    if config:
        return Config.fromfile(config).model
    text = read_config_text(checkpoint) if checkpoint else None
    if text is None:
        raise SystemExit('evaluate_features.py: cannot tell the backbone architecture: '
                         f'{checkpoint or "random"} has no meta["cfg"]; pass --config')
    return Config.fromstring(text, '.py').model


def build_backbone(model_cfg, img_size: int | None) -> tuple[torch.nn.Module, int]:
    """The config's ViT as a frozen patch-token extractor at ``img_size``."""
    from mmpretrain.registry import MODELS

    cfg = dict(model_cfg.backbone)
    if cfg.get('type') not in ('VisionTransformer', 'mmpretrain.VisionTransformer'):
        raise SystemExit(f'evaluate_features.py: expected a VisionTransformer backbone, '
                         f'got {cfg.get("type")!r}')
    size = img_size or cfg.get('img_size', 224)
    cfg.update(out_type='featmap', img_size=size, drop_path_rate=0.)
    cfg.pop('init_cfg', None)
    cfg['init_cfg'] = [dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
                       dict(type='Constant', layer='LayerNorm', val=1., bias=0.)]
    backbone = MODELS.build(cfg)
    backbone.init_weights()
    backbone.eval()  # mmpretrain's ViT.train() returns None
    return backbone, size


def load_backbone_weights(backbone: torch.nn.Module, checkpoint: str, teacher: bool) -> str:
    from gtsa_mm.downstream import backbone_prefix, match_backbone_state_dict, read_state_dict

    prefix = backbone_prefix(use_teacher=teacher)
    weights = match_backbone_state_dict(backbone, read_state_dict(checkpoint), checkpoint,
                                        prefix)
    backbone.load_state_dict(weights, strict=False)
    return prefix


def normalisation(model_cfg) -> tuple[Sequence[float], Sequence[float]]:
    pre = model_cfg.get('data_preprocessor') or {}
    return tuple(pre.get('mean', DEFAULT_MEAN)), tuple(pre.get('std', DEFAULT_STD))


# --------------------------------------------------------------------------- evaluation
@dataclass
class ProbeData:
    train_images: list[np.ndarray]
    train_labels: np.ndarray
    val_images: list[np.ndarray]
    val_labels: np.ndarray
    num_classes: int


def load_probe_data(data_root: Path, max_train: int | None = None,
                    max_val: int | None = None) -> ProbeData:
    train_images, train_labels = load_split(data_root, 'train', max_train)
    val_images, val_labels = load_split(data_root, 'val', max_val)
    return ProbeData(train_images, train_labels, val_images, val_labels,
                     num_classes_of(data_root, train_labels))


def random_crops(images: Sequence[np.ndarray], fraction: float,
                 seed: int) -> list[np.ndarray]:
    """One seeded square crop per image, its side ``fraction`` of the shorter side."""
    if fraction >= 1:
        return list(images)
    rng = np.random.default_rng(seed)
    crops = []
    for im in images:
        side = max(1, int(round(fraction * min(im.shape[:2]))))
        y = int(rng.integers(0, im.shape[0] - side + 1))
        x = int(rng.integers(0, im.shape[1] - side + 1))
        crops.append(im[y:y + side, x:x + side])
    return crops


def evaluate_backbone(backbone: torch.nn.Module, data: ProbeData, img_size: int,
                      mean: Sequence[float], std: Sequence[float], device: str = 'cpu',
                      alpha: float = 1e-3, rot_crop: float = 0.3, seed: int = 0) -> dict:
    """All probes of one frozen backbone."""
    backbone.to(device)
    backbone.eval()

    def features(images: Sequence[np.ndarray]) -> Tensor:
        return extract(backbone, to_batch(images, img_size, mean, std), device)

    train_maps, val_maps = features(data.train_images), features(data.val_images)
    result = dict(feature_dims=int(train_maps.shape[1]), grid=list(train_maps.shape[2:]),
                  img_size=img_size, rot_crop=rot_crop)
    result.update(segmentation_probe(train_maps, data.train_labels, val_maps, data.val_labels,
                                     data.num_classes, alpha))
    result.update(position_probe(train_maps, val_maps, alpha))

    pooled, turns = {}, {}
    for split, images in (('train', data.train_images), ('val', data.val_images)):
        crops = random_crops(images, rot_crop, seed + (split == 'val'))
        pooled[split] = torch.cat([features([np.rot90(c, k) for c in crops]).mean((2, 3))
                                   for k in range(4)])
        turns[split] = torch.arange(4).repeat_interleave(len(crops))
    result.update(rotation_probe(pooled['train'], turns['train'], pooled['val'], turns['val'],
                                 alpha))
    return result


def evaluate(checkpoints: Sequence[str], data_root: str = 'data/demo', config: str | None = None,
             teacher: bool = False, img_size: int | None = None, device: str = 'cpu',
             alpha: float = 1e-3, rot_crop: float = 0.3, seed: int = 0,
             max_train: int | None = None, max_val: int | None = None,
             names: Sequence[str] | None = None, arch: str | None = None,
             patch_size: int = 16) -> list[dict]:
    """Probe every checkpoint (or ``'random'``); one result dict each."""
    from mmengine.logging import MMLogger

    import gtsa_mm  # noqa: F401  (registers components and checkpoint types)

    # keep init_weights' per-parameter INFO lines out of the table
    MMLogger.get_instance('evaluate_features', log_level='WARNING')
    data = load_probe_data(Path(data_root), max_train, max_val)
    real = [c for c in checkpoints if c != RANDOM]
    results = []
    for i, checkpoint in enumerate(checkpoints):
        start = time.perf_counter()
        is_random = checkpoint == RANDOM
        model_cfg = model_config(real[0] if is_random and real else
                                 (None if is_random else checkpoint), config, arch,
                                 patch_size)
        torch.manual_seed(seed)
        backbone, size = build_backbone(model_cfg, img_size)
        prefix = None if is_random else load_backbone_weights(backbone, checkpoint, teacher)
        mean, std = normalisation(model_cfg)
        result = dict(name=names[i] if names else (RANDOM if is_random else checkpoint),
                      checkpoint=checkpoint, prefix=prefix, seed=seed, alpha=alpha,
                      num_train=len(data.train_images), num_val=len(data.val_images))
        result.update(evaluate_backbone(backbone, data, size, mean, std, device, alpha,
                                        rot_crop, seed))
        result['seconds'] = round(time.perf_counter() - start, 2)
        results.append(result)
    return results


def json_safe(value):
    """NaN -> None, recursively, so the JSON is standard."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


COLUMNS = (('seg_miou', 'seg mIoU'), ('seg_acc', 'seg acc'), ('pos_acc', 'position acc'),
           ('rot_acc', 'rotation acc'))


def markdown_table(results: Sequence[dict], extra: Sequence[tuple[str, str]] = ()) -> str:
    """One row per result; numbers in percent."""
    columns = (*COLUMNS, *extra)
    lines = ['| backbone | ' + ' | '.join(title for _, title in columns) + ' |',
             '| --- |' + ' ---: |' * len(columns)]
    for r in results:
        cells = []
        for key, _ in columns:
            value = r.get(key)
            if value is None or isinstance(value, float) and math.isnan(value):
                cells.append('n/a')
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                cells.append(f'{100 * value:.1f}' if key in dict(COLUMNS) else f'{value:g}')
            else:
                cells.append(str(value))
        lines.append(f'| {r["name"]} | ' + ' | '.join(cells) + ' |')
    if results:
        r = results[0]
        lines.append('')
        lines.append(f'chance: position {100 * r.get("pos_chance", float("nan")):.1f}, '
                     f'rotation 25.0; seg mIoU over classes 1..K, label 0 ignored; '
                     f'{r.get("img_size")} px input, {r.get("grid")} token grid')
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Frozen-feature probes (linear segmentation mIoU, patch-position and '
                    'image-rotation accuracy) of GTSA / DINO pretraining checkpoints on '
                    'the demo ADE-style data.')
    parser.add_argument('checkpoints', nargs='+', metavar='CHECKPOINT',
                        help="Runner checkpoint(s); 'random' for a randomly initialised "
                             'backbone of the same architecture')
    parser.add_argument('--data-root', default='data/demo',
                        help='root with ade/{images,annotations}/{training,validation} '
                             '(default: %(default)s)')
    parser.add_argument('--arch', help="instead of a config: an mmpretrain ViT arch "
                        "('deit-small', or 'deit-tiny' ...) with --patch-size")
    parser.add_argument('--patch-size', type=int, default=16,
                        help='patch size with --arch (default: %(default)s)')
    parser.add_argument('--config', help="pretraining config whose model.backbone to use "
                        "(default: the checkpoint's meta['cfg']; needed for 'random' alone)")
    parser.add_argument('--teacher', action='store_true',
                        help='probe the EMA teacher backbone instead of the student')
    parser.add_argument('--img-size', type=int,
                        help="input side in pixels (default: the backbone's img_size)")
    parser.add_argument('--alpha', type=float, default=1e-3,
                        help='ridge strength of the least-squares probes, per sample '
                             '(default: %(default)s)')
    parser.add_argument('--rot-crop', type=float, default=0.3,
                        help='rotation probe: side of the seeded random crop that is turned, '
                             'as a fraction of the image (1 = whole image; default: '
                             '%(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='seed (default: %(default)s)')
    parser.add_argument('--max-train', type=int, help='use at most this many training images')
    parser.add_argument('--max-val', type=int, help='use at most this many validation images')
    parser.add_argument('--device', default='cpu', help='torch device (default: %(default)s)')
    parser.add_argument('--out', help='write the results as JSON here')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if all(c == RANDOM for c in args.checkpoints) and not (args.config or args.arch):
        build_parser().error("'random' alone needs --config or --arch")
    for c in args.checkpoints:
        if c != RANDOM and not Path(c).is_file():
            build_parser().error(f'checkpoint not found: {c}')
    results = evaluate(args.checkpoints, args.data_root, args.config, args.teacher,
                       args.img_size, args.device, args.alpha, args.rot_crop, args.seed,
                       args.max_train, args.max_val, arch=args.arch,
                       patch_size=args.patch_size)
    print(markdown_table(results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(json_safe(results), indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
