"""The demo's pictures: pretraining losses, feature pictures (PCA, correspondences,
attention), UperNet masks and Mask R-CNN detections next to the ground truth."""
from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .results import read_scalars

if TYPE_CHECKING:  # imported where used: the stage runner stays light
    import numpy as np

#: Distinct colours for the 8 classes (index k - 1) in the pictures.
CLASS_COLOURS = ('#e6194b', '#4363d8', '#3cb44b', '#ffe119', '#911eb4', '#42d4f4',
                 '#f58231', '#000075')
UNLABELLED_COLOUR = '#808080'


def plot_pretrain_losses(pretrain_dir: Path, out: Path, warmup_epochs: int) -> Path | None:
    """Loss terms per iteration from the pretraining Runner's scalars.json."""
    import matplotlib.pyplot as plt

    rows = [r for r in read_scalars(pretrain_dir) if 'loss_region' in r]
    if not rows:
        return None
    terms = [('loss', 'total loss'), ('loss_region', 'loss_region (shared-region cosine)'),
             ('loss_patch', 'loss_patch (patch correspondence)'),
             ('loss_rotation', 'loss_rotation (quarter-turn CE)')]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    steps = [r['step'] for r in rows]
    for ax, (key, title) in zip(axes, terms):
        ax.plot(steps, [r.get(key, float('nan')) for r in rows], lw=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
    if warmup_epochs:
        axes[2].text(0.02, 0.04, f'weight 0 during the {warmup_epochs}-epoch warm-up',
                     transform=axes[2].transAxes, fontsize=8)
    fig.suptitle('GTSA pretraining on data/demo/pretrain (logged means per interval)')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _val_images(data_root: Path, count: int) -> list[Path]:
    return sorted((data_root / 'ade' / 'images' / 'validation').glob('*.jpg'))[:count]


def _picture_grid(columns: list[tuple[str, list]], figsize: tuple[float, float]):
    """A figure with one column of pictures per ``(title, pictures)``, without axes."""
    import matplotlib.pyplot as plt

    rows = len(columns[0][1])
    fig, axes = plt.subplots(rows, len(columns), figsize=figsize, squeeze=False)
    for col, (title, pictures) in enumerate(columns):
        for row, picture in enumerate(pictures):
            ax = axes[row][col]
            ax.imshow(picture, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=10)
    return fig


def _colourise(labels: np.ndarray) -> np.ndarray:
    """Label map with 0 = unlabelled, k = class k -> RGB floats."""
    import numpy as np
    from matplotlib.colors import to_rgb

    table = np.array([to_rgb(UNLABELLED_COLOUR)] + [to_rgb(c) for c in CLASS_COLOURS])
    return table[labels]


def plot_seg_predictions(models: dict[str, tuple[Path, Path]], data_root: Path, out: Path,
                         classes: Sequence[str], count: int = 4) -> Path:
    """Validation images, ground truth and each model's UperNet prediction.

    Predictions are shown where the ground truth has an object (the pixels mIoU is
    computed on); the background is ignored in training and is grey.
    """
    import cv2
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch
    from mmseg.apis import inference_model, init_model

    import gtsa_mm  # noqa: F401

    paths = _val_images(data_root, count)
    truths = [cv2.imread(str(data_root / 'ade' / 'annotations' / 'validation' /
                             f'{p.stem}.png'), cv2.IMREAD_UNCHANGED) for p in paths]
    columns = [('image', [cv2.imread(str(p))[..., ::-1] for p in paths]),
               ('ground truth', [_colourise(t) for t in truths])]
    for title, (config_file, checkpoint) in models.items():
        model = init_model(str(config_file), str(checkpoint), device='cpu')
        predictions = []
        for path, truth in zip(paths, truths):
            labels = inference_model(model, str(path)).pred_sem_seg.data[0].numpy() + 1
            predictions.append(_colourise(np.where(truth > 0, labels, 0)))
        columns.append((title, predictions))
    fig = _picture_grid(columns, figsize=(2.5 * len(columns), 2.5 * len(paths) + 0.6))
    handles = [Patch(color=c, label=name) for c, name in zip(CLASS_COLOURS, classes)]
    handles.append(Patch(color=UNLABELLED_COLOUR, label='background (ignored)'))
    fig.legend(handles=handles, loc='lower center', ncol=5, fontsize=8, frameon=False)
    fig.suptitle('UperNet on validation images (predictions on labelled pixels)', fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out



def _overlay_instances(image: np.ndarray, masks: Sequence[np.ndarray],
                       labels: Sequence[int]) -> np.ndarray:
    """``image`` (uint8 RGB) with each mask blended in its class colour (labels 0-based)."""
    import numpy as np
    from matplotlib.colors import to_rgb

    out = image.astype(np.float64) / 255
    for mask, label in zip(masks, labels):
        colour = np.array(to_rgb(CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]))
        out[mask] = 0.45 * out[mask] + 0.55 * colour
    return out


def _draw_boxes(ax, boxes: Sequence[Sequence[float]], labels: Sequence[int],
                scores: Sequence[float] | None = None) -> None:
    from matplotlib.patches import Rectangle

    for i, ((x1, y1, x2, y2), label) in enumerate(zip(boxes, labels)):
        colour = CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.2,
                               edgecolor=colour))
        if scores is not None:
            ax.text(x1, y1 - 1, f'{scores[i]:.2f}', color='white', fontsize=5,
                    bbox=dict(facecolor=colour, edgecolor='none', pad=0.5))


def plot_det_predictions(models: dict[str, tuple[Path, Path]], coco_root: Path, out: Path,
                         classes: Sequence[str], count: int = 4, top_k: int = 5) -> Path:
    """Validation images with their ground-truth instances and each Mask R-CNN's
    ``top_k`` highest-scoring detections (boxes, masks, scores), whatever their score:
    a detector that has not learnt much still shows what it finds."""
    import cv2
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from mmdet.apis import inference_detector, init_detector
    from pycocotools import mask as mask_utils

    import gtsa_mm  # noqa: F401

    annotations = json.loads((coco_root / 'annotations' / 'instances_val.json').read_text())
    images = sorted(annotations['images'], key=lambda im: im['id'])[:count]
    paths = [coco_root / 'val' / im['file_name'] for im in images]
    pictures = [cv2.imread(str(p))[..., ::-1].copy() for p in paths]
    truths = []
    for im in images:
        anns = [a for a in annotations['annotations'] if a['image_id'] == im['id']]
        truths.append(dict(
            masks=[mask_utils.decode(a['segmentation']).astype(bool) for a in anns],
            boxes=[[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)],
            labels=[a['category_id'] - 1 for a in anns], scores=None))
    columns = [('ground truth', truths)]
    for title, (config_file, checkpoint) in models.items():
        model = init_detector(str(config_file), str(checkpoint), device='cpu')
        shown = []
        for path in paths:
            pred = inference_detector(model, str(path)).pred_instances
            keep = pred.scores.argsort(descending=True)[:top_k]
            masks = pred.masks[keep].numpy() if 'masks' in pred else []
            shown.append(dict(masks=list(masks), boxes=pred.bboxes[keep].tolist(),
                              labels=pred.labels[keep].tolist(),
                              scores=pred.scores[keep].tolist()))
        columns.append((title, shown))
    fig, axes = plt.subplots(len(paths), len(columns), squeeze=False,
                             figsize=(2.6 * len(columns), 2.6 * len(paths) + 0.6))
    for col, (title, instances) in enumerate(columns):
        for row, (picture, inst) in enumerate(zip(pictures, instances)):
            ax = axes[row][col]
            ax.imshow(_overlay_instances(picture, inst['masks'], inst['labels']))
            _draw_boxes(ax, inst['boxes'], inst['labels'], inst['scores'])
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=10)
            if col > 0 and inst['scores']:
                ax.set_xlabel(f'top {len(inst["scores"])} scores '
                              f'{max(inst["scores"]):.2f}-{min(inst["scores"]):.2f}', fontsize=7)
            elif col > 0:
                ax.set_xlabel('no detections', fontsize=7)
    handles = [Patch(color=c, label=name) for c, name in zip(CLASS_COLOURS, classes)]
    fig.legend(handles=handles, loc='lower center', ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f'Mask R-CNN on validation images: ground truth and the {top_k} '
                 'highest-scoring detections', fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def last_checkpoint(work_dir: Path) -> Path:
    record = work_dir / 'last_checkpoint'
    if record.is_file():
        return Path(record.read_text().strip())
    return sorted(work_dir.glob('*.pth'), key=lambda p: p.stat().st_mtime)[-1]


def plot_features(checkpoint: Path, use_teacher: bool, data_root: Path, out_dir: Path,
                  count: int = 4) -> list[Path]:
    """``tools/visualize_features.py``'s pictures (PCA of the patch features as RGB,
    nearest-neighbour patch correspondences between an image and its flipped copy,
    last-block attention) of the GTSA backbone the fine-tunes start from and of a random
    init of the same ViT, on validation images."""
    from gtsa_mm.visualization import visualize_checkpoints

    title = 'GTSA teacher' if use_teacher else 'GTSA student'
    pictures = visualize_checkpoints(
        [str(checkpoint), 'random'], [str(p) for p in _val_images(data_root, count)],
        str(out_dir), names=[title, 'random init'], teacher=use_teacher, img_size=128)
    return [Path(path) for path in pictures.values()]


def make_figures(stages: Sequence, checkpoint: Path, data_root: Path, work_dir: Path,
                 scratch: bool, say) -> list[str]:
    """All pictures; the fine-tune pictures show each init's first seed."""
    import matplotlib
    from mmengine.logging import MMLogger

    from .stages import stages_of

    matplotlib.use('Agg')
    MMLogger.get_instance('gtsa_demo', log_level='WARNING')  # no init / load reports
    warnings.simplefilter('ignore')  # deprecation notes of mmseg's model builders

    by_name = {s.name: s for s in stages}
    written = []
    if 'pretrain' in by_name:
        stage = by_name['pretrain']
        path = plot_pretrain_losses(stage.work_dir, work_dir / 'pretrain_losses.png',
                                    stage.config.model.head.patch_loss.warmup_epochs)
        if path:
            written.append(path)
    inits = {'GTSA init': 'gtsa', 'random init': 'scratch'}
    if not scratch:
        inits.pop('random init')
    seg = {title: stages_of(stages, 'seg', init)[0] for title, init in inits.items()}
    det = {title: stages_of(stages, 'det', init)[0] for title, init in inits.items()}
    use_teacher = seg['GTSA init'].config.model.backbone.init_cfg.get('use_teacher', False)
    written += plot_features(checkpoint, use_teacher, data_root, work_dir / 'features')
    classes = seg['GTSA init'].config.metainfo['classes']
    written.append(plot_seg_predictions(
        {title: (s.work_dir / 'config.py', last_checkpoint(s.work_dir))
         for title, s in seg.items()}, data_root, work_dir / 'seg_predictions.png', classes))
    written.append(plot_det_predictions(
        {title: (s.work_dir / 'config.py', last_checkpoint(s.work_dir))
         for title, s in det.items()}, data_root / 'coco', work_dir / 'det_predictions.png',
        classes))
    for path in written:
        say(f'  wrote {path}')
    return [str(p) for p in written]
