"""The demo's numbers: fine-tune metrics read from the stages' logs, frozen-backbone probes,
each as a mean and std over the seeds, and the Markdown tables printed at the end."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from gtsa_mm.evaluation import paired_difference, spread

from .jobs import Stage
from .stages import INITS, LOW_LABEL_TEXT, METRICS, stages_of

UNITS = ('bbox_mAP and segm_mAP: COCO mAP@[0.5:0.95] (MMDetection CocoMetric), fractions '
         'in [0, 1]; mIoU and mIoU_low_label: mean IoU over the 8 object classes '
         '(MMSegmentation IoUMetric, background ignored), a percentage in [0, 100]; '
         '<name>_std: standard deviation over the seeds (ddof 0); differences: GTSA - '
         'scratch seed by seed (same data order, head init and label subset), its mean, std '
         '(ddof 0), per-seed runs and wins (seeds with GTSA above).')
#: the fine-tune metrics' results.json keys (stages.METRICS)
FINETUNE_KEYS = tuple(k for metrics in METRICS.values() for k in metrics)
#: Frozen-backbone probes (gtsa_mm.evaluation): the fraction of the labelled training
#: images each seed's probes see (a different seeded subset per seed).
PROBE_LABEL_FRACTION = 0.5
PROBE_KEYS = {'probe_linear_mIoU': 'linear_mIoU', 'probe_nn_mIoU': 'nn_mIoU',
              'probe_effective_rank': 'feature_effective_rank'}
NAMES = {'gtsa': 'GTSA pretrained', 'scratch': 'random init'}


def read_scalars(work_dir: Path) -> list[dict]:
    """The lines of the Runner's ``vis_data/scalars.json`` of its latest run in work_dir."""
    runs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    if not runs:
        return []
    return [json.loads(line) for line in runs[-1].read_text().splitlines() if line.strip()]


def read_metrics(work_dir: Path, metrics: dict[str, str], notes: list[str],
                 label: str) -> dict[str, float]:
    """The last evaluation's ``metrics`` (our name -> scalar name), as finite floats.

    A missing or non-finite value (CocoMetric returns no metrics when the model predicts
    no box at all) is reported as 0.0 and explained in ``notes``.
    """
    evaluations = [row for row in read_scalars(work_dir)
                   if any(name in row for name in metrics.values())]
    last = evaluations[-1] if evaluations else {}
    out = {}
    for key, name in metrics.items():
        value = last.get(name)
        if value is None or not math.isfinite(float(value)) or float(value) < 0:
            reason = ('the model predicted nothing, so CocoMetric returned no metrics'
                      if key.endswith('mAP') else f'IoUMetric gave {value!r}')
            notes.append(f'{label} {key}: reported as 0.0 because {reason}.')
            value = 0.0
        out[key] = float(value)
    return out


def collect_results(stages: Sequence[Stage], scratch: bool, seeds: Sequence[int],
                    notes: list[str]) -> dict:
    """``{'gtsa': {...}, 'scratch': {...}}``: each fine-tune metric's mean and ``_std`` over
    the seeds, the per-seed values under ``runs`` and the ``seeds``."""
    results = {}
    for init in INITS:
        if init == 'scratch' and not scratch:
            results[init] = None
            continue
        runs = {}
        for kind, metrics in METRICS.items():
            for seed, stage in zip(seeds, stages_of(stages, kind, init)):
                label = f'{NAMES[init]} seed {seed}'
                for key, value in read_metrics(stage.work_dir, metrics, notes, label).items():
                    runs.setdefault(key, []).append(value)
        per_seed = [dict(zip(runs, values)) for values in zip(*runs.values())]
        results[init] = dict(spread(per_seed, FINETUNE_KEYS), seeds=list(seeds), runs=runs)
    return results


def frozen_probes(checkpoint: Path, data_root: Path, use_teacher: bool,
                  seeds: Sequence[int], fraction: float = PROBE_LABEL_FRACTION
                  ) -> dict[str, dict]:
    """Linear and nearest-neighbour segmentation probes of the frozen GTSA backbone (the
    one the fine-tunes start from) and of random inits, once per seed.

    Seed ``s`` gives both the ``s``-th seeded subset of ``fraction`` of the labelled
    training images and, for ``scratch``, the ``s``-th random initialisation. Returns
    ``{'gtsa': {...}, 'scratch': {...}}`` with ``probe_*`` means, ``probe_*_std`` (over
    the seeds, ddof 0) and the per-seed values under ``probe_runs``.
    """
    from dataclasses import replace

    from mmengine.logging import MMLogger

    from gtsa_mm.evaluation import (
        DenseProbeSettings,
        build_probe_backbone,
        default_img_size,
        evaluate_backbone,
        evaluate_backbone_subsets,
        load_backbone_weights,
        load_probe_data,
        model_config,
        normalisation,
        spread,
    )

    MMLogger.get_instance('gtsa_demo_probes', log_level='WARNING')
    data = load_probe_data(data_root / 'ade')
    model_cfg = model_config(str(checkpoint))  # the backbone of the checkpoint's config
    mean, std = normalisation(model_cfg)
    settings = DenseProbeSettings(img_size=default_img_size(model_cfg),
                                  probes=('linear', 'nn', 'collapse'), label_fraction=fraction)
    gtsa = build_probe_backbone(model_cfg)
    load_backbone_weights(gtsa, str(checkpoint), use_teacher)
    runs = {'gtsa': evaluate_backbone_subsets(gtsa, data, settings, seeds, mean, std),
            'scratch': [evaluate_backbone(build_probe_backbone(model_cfg, seed), data,
                                          replace(settings, subset_seed=seed, seed=seed),
                                          mean, std)
                        for seed in seeds]}
    out = {}
    for init, results in runs.items():
        renamed = [{ours: r[theirs] for ours, theirs in PROBE_KEYS.items()} for r in results]
        out[init] = dict(spread(renamed, list(PROBE_KEYS)), seeds=list(seeds),
                         probe_label_fraction=fraction,
                         probe_num_train=results[0]['num_train'],
                         probe_runs={k: [r[k] for r in renamed] for k in PROBE_KEYS})
    return out


def paired_differences(results: dict) -> dict[str, dict]:
    """GTSA - scratch seed by seed, for every number both have per seed (the fine-tunes'
    ``runs``, the probes' ``probe_runs``): seed ``s`` of both shares data order, head
    init and label subset, so the per-seed difference is the paired comparison.

    Returns ``{key: paired_difference(gtsa, scratch)}`` (``mean``, ``std``, ``runs``,
    ``wins`` = seeds with GTSA above); empty without both inits.
    """
    gtsa, scratch = results.get('gtsa') or {}, results.get('scratch') or {}
    out = {}
    for field in ('runs', 'probe_runs'):
        for key, values in (gtsa.get(field) or {}).items():
            base = (scratch.get(field) or {}).get(key)
            if base is None or len(base) != len(values):
                continue
            out[key] = paired_difference(values, base)
    return out


# ------------------------------------------------------------------------------- tables
def _cell(row: dict, key: str, digits: int) -> str:
    return f'{row[key]:.{digits}f} ± {row[key + "_std"]:.{digits}f}'


def _difference(difference: dict | None, digits: int) -> str:
    if difference is None:
        return 'n/a'
    return (f'{difference["mean"]:+.{digits}f} ± {difference["std"]:.{digits}f} '
            f'({difference["wins"]}/{len(difference["runs"])} seeds above)')


def _table(results: dict, columns: Sequence[tuple[str, str, int]], first: str,
           difference: str) -> str:
    rows = [f'| {first} | ' + ' | '.join(title for _, title, _ in columns) + ' |',
            '| --- |' + ' --- |' * len(columns)]
    present = [init for init in INITS if columns[0][0] in (results.get(init) or {})]
    for init in present:
        rows.append(f'| {NAMES[init]} | ' + ' | '.join(
            _cell(results[init], key, digits) for key, _, digits in columns) + ' |')
    if len(present) == 2:
        paired = paired_differences(results)
        rows.append(f'| {difference}, paired by seed | ' + ' | '.join(
            _difference(paired.get(key), digits) for key, _, digits in columns) + ' |')
    return '\n'.join(rows)


def finetune_table(results: dict) -> str:
    """Markdown table of the fine-tunes: mean ± std over the seeds, and GTSA - scratch
    paired by seed (:func:`paired_differences`)."""
    return _table(results, (('bbox_mAP', 'Mask R-CNN box mAP', 3),
                            ('segm_mAP', 'mask mAP', 3),
                            ('mIoU', 'UperNet mIoU (%)', 2),
                            ('mIoU_low_label', f'UperNet mIoU, {LOW_LABEL_TEXT} labels (%)', 2)),
                  'backbone init', 'GTSA - scratch')


def probe_table(results: dict) -> str:
    """Markdown table of the frozen probes: mean ± std over the seeds, and GTSA - random
    paired by seed (:func:`paired_differences`)."""
    return _table(results, (('probe_linear_mIoU', 'linear probe mIoU (%)', 2),
                            ('probe_nn_mIoU', 'NN retrieval mIoU (%)', 2),
                            ('probe_effective_rank', 'eff. rank', 2)),
                  'frozen backbone', 'GTSA - random')
