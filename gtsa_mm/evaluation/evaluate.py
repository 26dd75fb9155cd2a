"""Probe Runner checkpoints (and random initialisations) and report the numbers."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .backbones import (
    RANDOM,
    build_probe_backbone,
    default_img_size,
    load_backbone_weights,
    model_config,
    normalisation,
)
from .dense_evaluator import DenseProbeSettings, evaluate_backbone_subsets, settings_dict
from .probe_data import DenseProbeData

__all__ = ['COLUMNS', 'evaluate_checkpoints', 'is_number', 'json_safe', 'markdown_table',
           'paired_difference', 'spread']


def evaluate_checkpoints(checkpoints: Sequence[str], data: DenseProbeData,
                         settings: DenseProbeSettings | None = None,
                         config: str | None = None, teacher: bool = False,
                         arch: str | None = None, patch_size: int = 16,
                         names: Sequence[str] | None = None, device: str = 'cpu',
                         img_size: int | None = None,
                         subset_seeds: Sequence[int] | None = None) -> list[dict]:
    """One result dict per checkpoint (``'random'``: a random init of the same ViT).

    The backbone comes from ``arch``, else ``config``, else the checkpoint's stored
    config (``'random'`` takes the first real checkpoint's). ``img_size`` None: the
    backbone's ``img_size``. With several ``subset_seeds`` (and
    ``settings.label_fraction < 1``) the probes run once per seeded subset of the
    labelled images: each number is then the mean, ``<key>_std`` its spread (ddof 0),
    and ``runs`` the per-subset results.
    """
    import gtsa_mm  # noqa: F401  (registers components and checkpoint types)

    settings = settings or DenseProbeSettings()
    real = [c for c in checkpoints if c != RANDOM]
    results = []
    for i, checkpoint in enumerate(checkpoints):
        is_random = checkpoint == RANDOM
        source = (real[0] if real else None) if is_random else checkpoint
        model_cfg = model_config(source, config, arch, patch_size)
        backbone = build_probe_backbone(model_cfg, settings.seed).to(device)
        prefix = None if is_random else load_backbone_weights(backbone, checkpoint, teacher)
        mean, std = normalisation(model_cfg)
        run = replace(settings, img_size=img_size or default_img_size(model_cfg))
        result = dict(name=names[i] if names else (RANDOM if is_random else checkpoint),
                      checkpoint=checkpoint, prefix=prefix, settings=settings_dict(run))
        seeds = list(subset_seeds) if subset_seeds else [settings.subset_seed]
        runs = evaluate_backbone_subsets(backbone, data, run, seeds, mean, std)
        if len(runs) == 1:
            result.update(runs[0])
        else:
            result.update({k: v for k, v in runs[0].items() if not is_number(v)})
            result.update(spread(runs, [k for k, v in runs[0].items() if is_number(v)]))
            result.update(subset_seeds=seeds, runs=runs)
        results.append(result)
    return results


def is_number(value) -> bool:
    """An int or float that is not a bool (a probe number, not a flag or a label)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def spread(results: Sequence[dict], keys: Sequence[str]) -> dict:
    """Mean and std (``<key>_std``, ddof 0) of each key over repeated results."""
    out = {}
    for key in keys:
        values = [r[key] for r in results if isinstance(r.get(key), (int, float))]
        out[key] = float(np.mean(values)) if values else float('nan')
        out[f'{key}_std'] = float(np.std(values)) if values else float('nan')
    return out


def paired_difference(values: Sequence[float], base: Sequence[float]) -> dict:
    """``values - base`` pair by pair (two backbones run with the same seeds): the
    ``mean`` and ``std`` (ddof 0; NaN without pairs) of the differences, the differences
    as ``runs`` and ``wins``, the number of pairs in which ``values`` is above."""
    runs = [a - b for a, b in zip(values, base)]
    stats = spread([{'difference': d} for d in runs], ['difference'])
    return dict(mean=stats['difference'], std=stats['difference_std'], runs=runs,
                wins=sum(d > 0 for d in runs))


def json_safe(value):
    """NaN and inf -> None, recursively, so the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


#: (key, column title) of the table, in percent except the collapse columns.
COLUMNS = (('linear_mIoU', 'linear mIoU'), ('nn_mIoU', 'NN mIoU'), ('pos_acc', 'position acc'),
           ('rot_acc', 'rotation acc'), ('feature_effective_rank', 'eff. rank'),
           ('feature_std_ratio', 'std x sqrt(d)'))


def markdown_table(results: Sequence[dict], columns: Sequence[tuple[str, str]] = COLUMNS) -> str:
    """One row per result; a note with the chance levels and the input size."""
    lines = ['| backbone | ' + ' | '.join(title for _, title in columns) + ' |',
             '| --- |' + ' ---: |' * len(columns)]
    for r in results:
        cells = []
        for key, _ in columns:
            value = r.get(key)
            std = r.get(f'{key}_std')
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                cells.append('n/a')
            elif isinstance(std, (int, float)) and math.isfinite(std):
                cells.append(f'{value:.2f} ± {std:.2f}')
            else:
                cells.append(f'{value:.2f}')
        lines.append(f'| {r["name"]} | ' + ' | '.join(cells) + ' |')
    if results:
        r = results[0]
        lines += ['', f'percent; chance: position {r.get("pos_chance", float("nan")):.1f}, '
                      f'rotation 25.0; mIoU over the labelled classes; '
                      f'{r.get("img_size")} px input, {r.get("grid")} token grid; '
                      f'eff. rank of {r.get("feature_dims")}-d tokens']
    return '\n'.join(lines)
