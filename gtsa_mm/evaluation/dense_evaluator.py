"""All dense probes of one frozen ViT backbone on a labelled probe set."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from .collapse import collapse_statistics, map_tokens
from .linear_probe import linear_segmentation_probe
from .nn_retrieval import nn_retrieval_probe
from .probe_data import DenseProbeData
from .sensitivity import position_probe, random_crops, rotation_probe

__all__ = [
    'IMAGENET_MEAN', 'IMAGENET_STD', 'PROBES', 'DenseProbeSettings', 'evaluate_backbone',
    'evaluate_backbone_subsets', 'extract_maps', 'patch_token_output', 'to_batch'
]

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
PROBES = ('linear', 'nn', 'position', 'rotation', 'collapse')


@dataclass
class DenseProbeSettings:
    """How the probes run. Every probe is deterministic for fixed settings.

    Args:
        img_size: Square input side in pixels (the backbone's pos-embed is resized).
        probes: Which of ``linear``, ``nn``, ``position``, ``rotation``, ``collapse``.
        alpha: Ridge strength of the closed-form linear probes, per sample.
        nn_k, nn_temperature, bank_size: The nearest-neighbour probe's settings.
        label_fraction: Fraction of the labelled training images the linear and
            nearest-neighbour probes see (1, 1/8, ...); ``subset_seed`` picks them.
        rot_crop: Rotation probe: side of the turned crop, fraction of the image.
        seed: Seed of the rotation probe's crops and of the bank's sample.
        batch_size: Images per forward pass.
    """
    img_size: int = 224
    probes: tuple[str, ...] = PROBES
    alpha: float = 1e-3
    nn_k: int = 30
    nn_temperature: float = 0.07
    bank_size: int | None = None
    label_fraction: float = 1.0
    subset_seed: int = 0
    rot_crop: float = 0.3
    seed: int = 0
    batch_size: int = 32

    def __post_init__(self) -> None:
        unknown = set(self.probes) - set(PROBES)
        if unknown:
            raise ValueError(f'unknown probes {sorted(unknown)}; choose from {PROBES}')
        self.probes = tuple(self.probes)


def to_batch(images: Sequence[np.ndarray], size: int, mean: Sequence[float] = IMAGENET_MEAN,
             std: Sequence[float] = IMAGENET_STD) -> Tensor:
    """Resize RGB uint8 images to ``size x size`` and normalise: ``(N, 3, size, size)``."""
    resized = np.stack([cv2.resize(np.ascontiguousarray(im), (size, size),
                                   interpolation=cv2.INTER_AREA) for im in images])
    batch = torch.from_numpy(resized.astype(np.float32)).permute(0, 3, 1, 2)
    return (batch - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@contextlib.contextmanager
def patch_token_output(backbone: nn.Module) -> Iterator[nn.Module]:
    """The backbone in eval mode returning patch-token maps, restored afterwards.

    ``mmpretrain.VisionTransformer`` returns what ``out_type`` says (``cls_token`` for
    DINO's); inside this context it returns ``featmap`` (``(N, C, h, w)`` maps).
    """
    was_training = backbone.training
    out_type = getattr(backbone, 'out_type', None)
    if out_type is not None:
        backbone.out_type = 'featmap'
    backbone.eval()
    try:
        yield backbone
    finally:
        if out_type is not None:
            backbone.out_type = out_type
        backbone.train(was_training)


@torch.no_grad()
def extract_maps(backbone: nn.Module, batch: Tensor, batch_size: int = 32,
                 projector: nn.Module | None = None) -> tuple[Tensor, Tensor | None]:
    """``(N, 3, S, S)`` -> the last output's ``(N, C, h, w)`` maps on the CPU (float32).

    With ``projector`` (e.g. GTSA's), its maps are returned too.
    """
    device = next(backbone.parameters()).device
    maps, projected = [], []
    with patch_token_output(backbone):
        for start in range(0, len(batch), batch_size):
            out = backbone(batch[start:start + batch_size].to(device))[-1]
            maps.append(out.float().cpu())
            if projector is not None:
                proj = projector(out)
                proj = proj[0] if isinstance(proj, (tuple, list)) else proj
                projected.append(proj.float().cpu())
    return torch.cat(maps), (torch.cat(projected) if projector is not None else None)


def _prefixed(prefix: str, stats: dict) -> dict:
    return {f'{prefix}_{k}': v for k, v in stats.items()}


def evaluate_backbone(backbone: nn.Module, data: DenseProbeData,
                      settings: DenseProbeSettings | None = None,
                      mean: Sequence[float] = IMAGENET_MEAN,
                      std: Sequence[float] = IMAGENET_STD,
                      projector: nn.Module | None = None) -> dict:
    """Run the probes of ``settings`` on a frozen backbone; one flat dict of numbers.

    Keys: ``linear_mIoU``/``linear_aAcc``/``linear_IoU`` (linear segmentation probe),
    ``nn_mIoU``/``nn_aAcc``/``nn_IoU``/``nn_bank_size`` (Hummingbird retrieval),
    ``pos_acc``, ``rot_acc`` (sensitivity probes, with their chance levels),
    ``feature_std``/``feature_std_ratio``/``feature_effective_rank``/
    ``feature_mean_cosine`` (collapse monitor on the validation tokens; ``projector_*``
    too when ``projector`` is given), ``feature_dims``, ``grid``, ``seconds``.
    Accuracies and IoUs are percentages. The backbone's mode is restored afterwards.
    """
    settings = settings or DenseProbeSettings()
    return evaluate_backbone_subsets(backbone, data, settings, [settings.subset_seed], mean,
                                     std, projector)[0]


def evaluate_backbone_subsets(backbone: nn.Module, data: DenseProbeData,
                              settings: DenseProbeSettings, subset_seeds: Sequence[int],
                              mean: Sequence[float] = IMAGENET_MEAN,
                              std: Sequence[float] = IMAGENET_STD,
                              projector: nn.Module | None = None) -> list[dict]:
    """:func:`evaluate_backbone` once per seeded subset of the labelled images.

    The features are computed once: the label-dependent probes (linear, nearest
    neighbour, position) run on each subset's rows of the training maps; the rotation
    probe and the collapse monitor, which need no labels, once for all subsets.
    ``settings.subset_seed`` is ignored; ``seconds`` is the time of the whole call.
    """
    start = time.perf_counter()
    probes = set(settings.probes)
    size = settings.img_size
    val_maps, val_proj = extract_maps(backbone, to_batch(data.val_images, size, mean, std),
                                      settings.batch_size,
                                      projector if 'collapse' in probes else None)
    head = dict(feature_dims=int(val_maps.shape[1]), grid=list(val_maps.shape[2:]),
                img_size=size)
    shared = {}
    if 'rotation' in probes:
        pooled, turns = {}, {}
        for split, images in (('train', data.train_images), ('val', data.val_images)):
            crops = random_crops(images, settings.rot_crop, settings.seed + (split == 'val'))
            turned = [np.rot90(c, k) for k in range(4) for c in crops]
            maps, _ = extract_maps(backbone, to_batch(turned, size, mean, std),
                                   settings.batch_size)
            pooled[split] = maps.mean((2, 3))
            turns[split] = torch.arange(4).repeat_interleave(len(crops))
        shared.update(rotation_probe(pooled['train'], turns['train'], pooled['val'],
                                     turns['val'], settings.alpha))
    if 'collapse' in probes:
        shared.update(_prefixed('feature', collapse_statistics(map_tokens(val_maps))))
        if val_proj is not None:
            shared.update(_prefixed('projector', collapse_statistics(map_tokens(val_proj))))
    if probes & {'linear', 'nn', 'position'}:
        all_train_maps, _ = extract_maps(
            backbone, to_batch(data.train_images, size, mean, std), settings.batch_size)
    runs = []
    for seed in subset_seeds:
        chosen = data.subset_indices(settings.label_fraction, seed)
        result = dict(head, num_train=len(chosen), num_val=len(data.val_images),
                      label_fraction=settings.label_fraction)
        if probes & {'linear', 'nn', 'position'}:
            train_maps, train_labels = all_train_maps[chosen], data.train_labels[chosen]
        if 'linear' in probes:
            result.update(linear_segmentation_probe(
                train_maps, train_labels, val_maps, data.val_labels, data.num_classes,
                data.ignore_index, settings.alpha))
        if 'nn' in probes:
            result.update(nn_retrieval_probe(
                train_maps, train_labels, val_maps, data.val_labels, data.num_classes,
                data.ignore_index, settings.nn_k, settings.nn_temperature,
                settings.bank_size, settings.seed, device=next(backbone.parameters()).device))
        if 'position' in probes:
            result.update(position_probe(train_maps, val_maps, settings.alpha))
        result.update(shared)
        runs.append(result)
    seconds = time.perf_counter() - start  # unrounded: a fast run must not read 0.0
    for result in runs:
        result['seconds'] = seconds
    return runs


def settings_dict(settings: DenseProbeSettings) -> dict:
    """The settings as plain JSON-able values."""
    out = asdict(settings)
    out['probes'] = list(settings.probes)
    return out
