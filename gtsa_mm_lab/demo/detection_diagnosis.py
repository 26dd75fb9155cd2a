"""Where a trained two-stage detector fails on the validation images
(``tools/diagnose_detector.py``): the RPN's average recall at N proposals, the RoI
classifier's accuracy on the ground-truth boxes, and the statistics of the backbone's and
the neck's feature maps, level by level.

The numbers separate the stages of a Mask R-CNN: an RPN that finds the objects (AR@100 near
the ResNet reference) with an RoI head that cannot name them (accuracy on ground-truth
boxes near the background share) points at the features the RoI head pools, not at the
proposals; feature levels whose scale differs by orders of magnitude, or that are mostly
zero, point at the backbone or the neck.

All boxes are taken in the frame of the network's input (the resized image): the test
pipeline is rebuilt with ``LoadAnnotations`` right after ``LoadImageFromFile`` so that
``Resize`` scales the ground truth with the image.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

#: IoU thresholds of COCO's average recall.
AR_IOUS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2).tolist())


# ---------------------------------------------------------------------------------------
# metrics on plain tensors
# ---------------------------------------------------------------------------------------
def box_tensor(boxes) -> torch.Tensor:
    """The (N, 4) tensor of MMDetection's box types, or the tensor itself."""
    return boxes.tensor if hasattr(boxes, 'tensor') else boxes


def best_ious(proposals: Sequence[torch.Tensor], gts: Sequence[torch.Tensor],
              max_proposals: int = 100) -> torch.Tensor:
    """For every ground-truth box, the best IoU among the first ``max_proposals``
    proposals of its image (proposals sorted by score, best first)."""
    from mmdet.structures.bbox import bbox_overlaps

    out = []
    for props, gt in zip(proposals, gts, strict=True):
        gt = gt.reshape(-1, 4)
        if len(gt) == 0:
            continue
        props = props.reshape(-1, 4)[:max_proposals]
        if len(props) == 0:
            out.append(torch.zeros(len(gt)))
        else:
            out.append(bbox_overlaps(props.float(), gt.float()).max(dim=0).values)
    return torch.cat(out) if out else torch.zeros(0)


def average_recall(proposals: Sequence[torch.Tensor], gts: Sequence[torch.Tensor],
                   max_proposals: int = 100, ious: Sequence[float] = AR_IOUS) -> dict:
    """COCO-style average recall at ``max_proposals`` proposals per image: the recall at
    each IoU threshold in ``ious`` averaged, with the recall at 0.5 and 0.7 and the number
    of ground-truth boxes."""
    best = best_ious(proposals, gts, max_proposals)
    if len(best) == 0:
        raise ValueError('no ground-truth boxes')
    recalls = [(best >= t - 1e-6).float().mean().item() for t in ious]
    return dict(ar=float(np.mean(recalls)), recall_50=(best >= 0.5).float().mean().item(),
                recall_70=(best >= 0.7).float().mean().item(), num_gts=len(best))


def roi_accuracy(cls_scores: torch.Tensor, labels: torch.Tensor) -> dict:
    """Accuracy of an RoI classifier's scores (N, C + 1; the last column is background, as
    in MMDetection) against the labels of the boxes it was given (ground truth, 0..C-1):
    ``acc`` over all C + 1 outputs, ``acc_fg`` with background excluded (argmax over the C
    classes), and ``background`` the share of boxes called background."""
    if len(labels) == 0:
        raise ValueError('no boxes')
    pred = cls_scores.argmax(dim=1)
    num_classes = cls_scores.shape[1] - 1
    pred_fg = cls_scores[:, :num_classes].argmax(dim=1)
    return dict(acc=(pred == labels).float().mean().item(),
                acc_fg=(pred_fg == labels).float().mean().item(),
                background=(pred == num_classes).float().mean().item(),
                num_boxes=len(labels))


def feature_statistics(maps: Iterable[torch.Tensor], near_zero: float = 1e-2) -> list[dict]:
    """Per map (N, C, H, W): mean, std, root mean square, the mean over channels of each
    channel's spatial std, and ``near_zero``: the share of values whose magnitude is below
    ``near_zero`` times the map's RMS."""
    stats = []
    for m in maps:
        m = m.detach().float()
        rms = m.pow(2).mean().sqrt()
        stats.append(dict(
            shape=list(m.shape[1:]), mean=m.mean().item(), std=m.std().item(),
            rms=rms.item(),
            spatial_std=m.flatten(2).std(dim=2).mean().item() if m[0, 0].numel() > 1 else 0.,
            near_zero=(m.abs() < near_zero * rms.clamp(min=1e-30)).float().mean().item()))
    return stats


def merge_statistics(per_batch: Sequence[list[dict]]) -> list[dict]:
    """Average the level statistics of several batches (each number the mean of the
    batches' numbers; shapes from the first batch)."""
    merged = []
    for level in zip(*per_batch, strict=True):
        row = dict(shape=level[0]['shape'])
        for key in ('mean', 'std', 'rms', 'spatial_std', 'near_zero'):
            row[key] = float(np.mean([s[key] for s in level]))
        merged.append(row)
    return merged


# ---------------------------------------------------------------------------------------
# a detector and its data
# ---------------------------------------------------------------------------------------
def annotated_test_pipeline(pipeline: Sequence[dict]) -> list[dict]:
    """The test pipeline with ``LoadAnnotations`` moved right after ``LoadImageFromFile``
    (added there, boxes only, when missing), so that ``Resize`` scales the boxes and masks
    with the image."""
    pipeline = [dict(t) for t in pipeline]
    loads = [t for t in pipeline if t['type'] == 'LoadAnnotations']
    rest = [t for t in pipeline if t['type'] != 'LoadAnnotations']
    if not loads:
        loads = [dict(type='LoadAnnotations', with_bbox=True)]
    at = next((i + 1 for i, t in enumerate(rest) if t['type'] == 'LoadImageFromFile'), 0)
    return rest[:at] + loads + rest[at:]


def load_detector(config: str | Path, checkpoint: str | Path | None = None,
                  cfg_options: dict | None = None):
    """``(model, cfg)``: the detector of an MMDetection config in eval mode on the CPU,
    with the weights of ``checkpoint`` (a training checkpoint of that config) when given."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmengine.utils import import_modules_from_strings

    cfg = Config.fromfile(str(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    model_cfg = cfg.model.copy()
    _convert_syncbn(model_cfg)
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True,
                        revise_keys=[(r'^module\.', '')])
    else:
        model.init_weights()
    model.eval()
    return model, cfg


def _convert_syncbn(node) -> None:
    """SyncBN -> BN in a (nested) config: the diagnosis runs in one process."""
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for value in node.values():
            _convert_syncbn(value)
    elif isinstance(node, list | tuple):
        for value in node:
            _convert_syncbn(value)


def dataset_batches(cfg, split: str = 'val', scale: int | None = None,
                    num_images: int | None = None, batch_size: int = 4):
    """Raw batches (``pseudo_collate`` dicts) of the config's ``split`` ('train' or 'val')
    with the annotated test pipeline (no flip, no random scale): the first ``num_images``
    images, or all; the image's shorter side resized to ``scale`` when given."""
    ds = copy.deepcopy(dict(cfg.val_dataloader.dataset))
    if split == 'train':
        src = cfg.train_dataloader.dataset
        ds.update(ann_file=src.ann_file, data_prefix=copy.deepcopy(dict(src.data_prefix)))
    if scale is not None:
        ds['pipeline'] = [dict(t, scale=(4 * scale, scale)) if t['type'] == 'Resize'
                          else t for t in ds['pipeline']]
    yield from _batches(ds, num_images, batch_size)


def _batches(dataset_cfg, num_images: int | None, batch_size: int):
    from mmdet.registry import DATASETS
    from mmengine.dataset import pseudo_collate

    ds_cfg = copy.deepcopy(dict(dataset_cfg))
    ds_cfg['pipeline'] = annotated_test_pipeline(ds_cfg['pipeline'])
    ds_cfg['test_mode'] = True
    dataset = DATASETS.build(ds_cfg)
    n = len(dataset) if num_images is None else min(num_images, len(dataset))
    for start in range(0, n, batch_size):
        yield pseudo_collate([dataset[i] for i in range(start, min(n, start + batch_size))])


# ---------------------------------------------------------------------------------------
# the diagnosis of one batch and of a data set
# ---------------------------------------------------------------------------------------
def _neck_stages(neck, feats):
    """Outputs of each stage of a (possibly sequential) neck: [(name, maps), ...]."""
    stages = list(neck) if isinstance(neck, torch.nn.Sequential) else [neck]
    out = []
    for i, stage in enumerate(stages):
        feats = stage(feats)
        name = f'neck.{i}' if len(stages) > 1 else 'neck'
        out.append((f'{name} ({type(stage).__name__})', tuple(feats)))
    return out


@torch.no_grad()
def diagnose_batch(model, inputs: torch.Tensor, data_samples, max_proposals: int = 100,
                   proposals: Sequence[torch.Tensor] | None = None,
                   near_zero: float = 1e-2) -> dict:
    """The raw numbers of one preprocessed batch: proposals and ground truth for the
    average recall, RoI scores and labels on the ground-truth boxes, feature statistics
    of the backbone and of each neck stage.

    ``proposals`` (one tensor per image, best first) replaces the RPN's.
    """
    from mmdet.structures.bbox import bbox2roi

    backbone_out = model.backbone(inputs)
    stages = [('backbone', tuple(backbone_out))]
    if model.with_neck:
        stages += _neck_stages(model.neck, backbone_out)
    feats = stages[-1][1]
    gts = [box_tensor(s.gt_instances.bboxes) for s in data_samples]
    labels = torch.cat([s.gt_instances.labels for s in data_samples])
    if proposals is None:
        rpn = model.rpn_head.predict(feats, data_samples, rescale=False)
        proposals = [r.bboxes[r.scores.argsort(descending=True)] for r in rpn]
    rois = bbox2roi([g.float() for g in gts])
    cls_scores = model.roi_head._bbox_forward(feats, rois)['cls_score']
    return dict(proposals=[p[:max_proposals] for p in proposals], gts=gts,
                cls_scores=cls_scores, labels=labels,
                features={name: feature_statistics(maps, near_zero) for name, maps in stages})


def diagnose(model, batches: Iterable[dict], max_proposals: int = 100,
             near_zero: float = 1e-2) -> dict:
    """Average recall at ``max_proposals``, RoI accuracy on ground-truth boxes and feature
    statistics of a detector over raw batches (``pseudo_collate`` dicts)."""
    proposals, gts, scores, labels, features = [], [], [], [], {}
    num_images = 0
    for batch in batches:
        data = model.data_preprocessor(batch, False)
        out = diagnose_batch(model, data['inputs'], data['data_samples'], max_proposals,
                             near_zero=near_zero)
        num_images += len(data['data_samples'])
        proposals += out['proposals']
        gts += out['gts']
        scores.append(out['cls_scores'])
        labels.append(out['labels'])
        for name, stats in out['features'].items():
            features.setdefault(name, []).append(stats)
    return dict(num_images=num_images,
                rpn=average_recall(proposals, gts, max_proposals),
                roi=roi_accuracy(torch.cat(scores), torch.cat(labels)),
                features={k: merge_statistics(v) for k, v in features.items()},
                max_proposals=max_proposals)


# ---------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------
def _num(x: float) -> str:
    if x == 0 or math.isnan(x):
        return f'{x:.3g}'
    return f'{x:.3g}' if 1e-3 <= abs(x) < 1e4 else f'{x:.2e}'


def markdown(result: dict, label: str = 'detector') -> str:
    """Two Markdown tables: RPN/RoI numbers, then feature statistics per stage and level."""
    rpn, roi = result['rpn'], result['roi']
    k = result['max_proposals']
    lines = [
        f'| detector | AR@{k} | recall@{k} IoU 0.5 | IoU 0.7 | RoI acc. on GT boxes '
        '| acc. among classes | called background | GT boxes | images |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        f'| {label} | {rpn["ar"]:.3f} | {rpn["recall_50"]:.3f} | {rpn["recall_70"]:.3f} '
        f'| {100 * roi["acc"]:.1f} % | {100 * roi["acc_fg"]:.1f} % '
        f'| {100 * roi["background"]:.1f} % | {roi["num_boxes"]} | {result["num_images"]} |',
        '',
        '| stage | level | C x H x W | mean | std | spatial std | near zero |',
        '| --- | ---: | --- | ---: | ---: | ---: | ---: |',
    ]
    for stage, levels in result['features'].items():
        for i, s in enumerate(levels):
            lines.append(f'| {stage} | {i} | {" x ".join(map(str, s["shape"]))} '
                         f'| {_num(s["mean"])} | {_num(s["std"])} | {_num(s["spatial_std"])} '
                         f'| {100 * s["near_zero"]:.1f} % |')
    return '\n'.join(lines)


# ---------------------------------------------------------------------------------------
# frozen features: a linear probe on RoI features of ground-truth boxes
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def roi_features(model, batches: Iterable[dict], source: str = 'neck', level: int = 0,
                 output_size: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, labels)``: RoIAlign features (N, C * output_size ** 2) of every
    ground-truth box, pooled from ``source`` ('backbone' or 'neck') map ``level`` of a frozen
    detector, or from the normalised input image (``'pixels'``); the map's stride is the
    input's size over the map's."""
    from mmcv.ops import roi_align
    from mmdet.structures.bbox import bbox2roi

    feats, labels = [], []
    for batch in batches:
        data = model.data_preprocessor(batch, False)
        inputs, samples = data['inputs'], data['data_samples']
        if source == 'pixels':
            maps = (inputs,)
        else:
            maps = model.backbone(inputs)
            if source == 'neck':
                maps = model.neck(maps)
        fmap = maps[level]
        stride = inputs.shape[-1] / fmap.shape[-1]
        rois = bbox2roi([box_tensor(s.gt_instances.bboxes).float() for s in samples])
        pooled = roi_align(fmap, rois, (output_size, output_size), 1.0 / stride, 2,
                           'avg', True)
        feats.append(pooled.flatten(1))
        labels.append(torch.cat([s.gt_instances.labels for s in samples]))
    return torch.cat(feats), torch.cat(labels)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
                 val_y: torch.Tensor, num_classes: int, steps: int = 200,
                 weight_decay: float = 1e-3, seed: int = 0) -> dict:
    """Multinomial logistic regression on standardised features (full-batch AdamW): the
    train and val accuracy."""
    from gtsa_mm.evaluation.linear_probe import standardize

    gen = torch.Generator().manual_seed(seed)
    tx, vx = standardize(train_x, val_x)
    w = (torch.randn(tx.shape[1], num_classes, generator=gen) * 0.01).requires_grad_()
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.AdamW([w, b], lr=1e-2, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tx @ w + b, train_y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return dict(train_acc=((tx @ w + b).argmax(1) == train_y).float().mean().item(),
                    val_acc=((vx @ w + b).argmax(1) == val_y).float().mean().item(),
                    num_train=len(train_y), num_val=len(val_y))


def gt_box_probe(model, cfg, source: str = 'neck', level: int = 0, scale: int | None = None,
                 num_train: int | None = None, num_val: int | None = None,
                 steps: int = 200, output_size: int = 7) -> dict:
    """Linear probe of a frozen detector's features on the ground-truth boxes: fit on the
    training images, accuracy on the validation images (chance: the largest class share);
    ``output_size`` 1 averages each box's features into one vector."""
    num_classes = len(cfg.metainfo['classes'])
    tx, ty = roi_features(model, dataset_batches(cfg, 'train', scale, num_train), source,
                          level, output_size)
    vx, vy = roi_features(model, dataset_batches(cfg, 'val', scale, num_val), source, level,
                          output_size)
    res = linear_probe(tx, ty, vx, vy, num_classes, steps)
    res['chance'] = torch.bincount(vy, minlength=num_classes).max().item() / len(vy)
    return res


# ---------------------------------------------------------------------------------------
# a picture: predictions beside the ground truth
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def draw_predictions(models, cfg, out: Path, num_images: int = 3, top_k: int = 5,
                     score_thr: float = 0.0, first: int = 0) -> Path:
    """A PNG with one row per validation image: the ground-truth boxes and masks, then the
    ``top_k`` highest-scoring detections (scores >= ``score_thr``) of each detector, in the
    frame of the network's input. ``models``: a detector or ``{column title: detector}``
    (detectors of one data pipeline, ``cfg``'s)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from PIL import Image

    if not isinstance(models, dict):
        models = {'prediction': models}
    classes = cfg.metainfo['classes']
    colours = plt.get_cmap('tab10')
    rows = []
    for index, batch in enumerate(dataset_batches(cfg, 'val', num_images=first + num_images,
                                                     batch_size=1)):
        if index < first:
            continue
        panels = []
        for model in models.values():
            data = model.data_preprocessor(batch, False)
            sample = data['data_samples'][0]
            pred = model.predict(data['inputs'], data['data_samples'], rescale=False)[0]
            p = pred.pred_instances
            order = p.scores.argsort(descending=True)[:top_k]
            p = p[order[p.scores[order] >= score_thr]]
            panels.append((box_tensor(p.bboxes), p.labels,
                           p.masks.cpu().numpy() if 'masks' in p else None, p.scores))
        gt = sample.gt_instances
        panels.insert(0, (box_tensor(gt.bboxes), gt.labels,
                          gt.masks.to_ndarray() if 'masks' in gt else None, None))
        h, w = sample.img_shape
        image = np.asarray(Image.open(sample.img_path).convert('RGB').resize((w, h)))
        rows.append((image, panels))
    titles = ['ground truth'] + [f'{name} (top {top_k})' for name in models]
    fig, axes = plt.subplots(len(rows), len(titles),
                             figsize=(2.2 * len(titles), 2.2 * len(rows)), squeeze=False)
    for (image, panels), ax_row in zip(rows, axes, strict=True):
        for (boxes, labels, masks, scores), ax, title in zip(panels, ax_row, titles,
                                                             strict=True):
            shown = image.astype(float) / 255
            if masks is not None:
                for m, lab in zip(masks, labels.tolist(), strict=True):
                    m = m.astype(bool)
                    shown[m] = 0.5 * shown[m] + 0.5 * np.array(colours(lab % 10)[:3])
            ax.imshow(shown)
            for i, (box, lab) in enumerate(zip(boxes.tolist(), labels.tolist(),
                                               strict=True)):
                x1, y1, x2, y2 = box
                ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                           color=colours(lab % 10), lw=0.8))
                text = classes[lab] if scores is None else f'{classes[lab]} {scores[i]:.2f}'
                ax.text(x1, y1 - 1, text, fontsize=3.5, color='white',
                        bbox=dict(facecolor=colours(lab % 10), pad=0.3, lw=0))
            ax.set_title(title, fontsize=6)
            ax.axis('off')
    fig.tight_layout(pad=0.3)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    Image.open(out).convert('RGB').quantize(colors=256).save(out, optimize=True)  # ~3x smaller
    return out


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------
def probe_markdown(rows: Sequence[tuple[str, dict]]) -> str:
    """A Markdown table of :func:`gt_box_probe` results: ``[(name, result), ...]``."""
    lines = ['| features | train acc. | val acc. | chance (largest val class) '
             '| boxes train / val |',
             '| --- | ---: | ---: | ---: | ---: |']
    for name, r in rows:
        lines.append(f'| {name} | {100 * r["train_acc"]:.1f} % | {100 * r["val_acc"]:.1f} % '
                     f'| {100 * r["chance"]:.1f} % | {r["num_train"]} / {r["num_val"]} |')
    return '\n'.join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', type=Path, help='MMDetection config of the detector')
    parser.add_argument('checkpoint', nargs='?', type=Path,
                        help='its training checkpoint (epoch_N.pth); without it the model is '
                        'initialised as for training (the backbone from its init_cfg)')
    parser.add_argument('--num-images', type=int, help='first N validation images (all)')
    parser.add_argument('--max-proposals', type=int, default=100)
    parser.add_argument('--near-zero', type=float, default=1e-2,
                        help='a value is near zero below this times its level\'s RMS')
    parser.add_argument('--label', help='row name (default: the checkpoint\'s folder)')
    parser.add_argument('--json', type=Path, help='also write the numbers here')
    parser.add_argument('--probe', nargs='+', default=[], metavar='SOURCE:LEVEL',
                        help='linear probes of the frozen features on ground-truth boxes, '
                        'e.g. pixels:0 backbone:0 backbone:3 neck:0')
    parser.add_argument('--probe-scale', type=int,
                        help='shorter image side for the probes (default: the test pipeline)')
    parser.add_argument('--probe-pool', type=int, nargs='+', default=[7],
                        help='RoIAlign output size(s); 1 averages each box')
    parser.add_argument('--probe-only', action='store_true',
                        help='skip the RPN / RoI / feature tables')
    parser.add_argument('--draw', type=Path,
                        help='also draw predictions beside the ground truth (PNG)')
    parser.add_argument('--draw-images', type=int, default=3)
    parser.add_argument('--draw-top-k', type=int, default=5,
                        help='detections drawn per image (highest scores)')
    parser.add_argument('--draw-with', nargs=3, action='append', default=[],
                        metavar=('CONFIG', 'CHECKPOINT', 'LABEL'),
                        help='another detector drawn in a further column (repeatable)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='key=value overrides of the config (as in tools/train.py)')
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model, cfg = load_detector(args.config, args.checkpoint, args.cfg_options)
    label = args.label or (args.checkpoint.parent.name if args.checkpoint else 'init')
    result = {}
    if not args.probe_only:
        result = diagnose(model, dataset_batches(cfg, 'val', num_images=args.num_images),
                          args.max_proposals,
                          args.near_zero)
        print(markdown(result, label))
    if args.probe:
        rows = []
        for spec in args.probe:
            source, level = spec.split(':')
            for pool in args.probe_pool:
                res = gt_box_probe(model, cfg, source, int(level), args.probe_scale,
                                   num_train=args.num_images, num_val=args.num_images,
                                   output_size=pool)
                rows.append((f'{label} {source}[{level}] {pool}x{pool}', res))
        print()
        print(probe_markdown(rows))
        result['probes'] = {name: r for name, r in rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    if args.draw:
        models = {label: model}
        for other_config, other_checkpoint, other_label in args.draw_with:
            models[other_label] = load_detector(other_config, other_checkpoint)[0]
        out = draw_predictions(models, cfg, args.draw, args.draw_images, args.draw_top_k)
        print(f'wrote {out}')
    return 0
