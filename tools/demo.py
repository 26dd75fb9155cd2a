"""The whole pipeline on the bundled demo data, on a CPU: GTSA pretraining, then Mask R-CNN
(MMDetection) and UperNet (MMSegmentation) fine-tuning and evaluation, from the GTSA
backbone and from random initialisation.

    python tools/demo.py                 # the demo of docs/demo.md (``make demo``)
    python tools/demo.py --quick         # tiny counts, one epoch: a smoke run (CI)
    python tools/demo.py --pretrained work_dirs/demo/pretrain/epoch_24.pth   # skip stage 1

Stages, each one ``tools/train.py`` process (MMEngine's Runner) with its config and log in
``<work-dir>/<stage>/`` (``config.py``, ``train.log``):

    data         tools/make_demo_data.py, when ``--data-root`` holds no demo data
    pretrain     configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py
    det_gtsa     configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-8e_demo.py  (+ COCO eval)
    seg_gtsa     configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py  (+ mIoU)
    det_scratch  the same Mask R-CNN, ``model.backbone.init_cfg=None``
    seg_scratch  the same UperNet, ``model.backbone.init_cfg=None``

With ``--jobs 2`` (the default on two or more cores) two independent stages run side by
side, each with half the cores: the scratch fine-tunes do not wait for pretraining.

Writes ``<work-dir>/results.json`` (metrics, units, timings, settings), ``results.md``
(the table printed at the end) and the pictures ``pretrain_losses.png``,
``pca_features.png`` and ``seg_predictions.png``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: --help and the stage runner stay light
    import numpy as np
    import torch

REPO = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = REPO / 'tools' / 'train.py'
PRETRAIN_CONFIG = REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py'
DET_CONFIG = REPO / 'configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-8e_demo.py'
SEG_CONFIG = REPO / 'configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py'

#: ``tools/make_demo_data.py`` flags of the demo's data set, and of ``--quick``'s.
DATA_FLAGS = dict(num_pretrain=512, num_train=128, num_val=32, image_size=256)
QUICK_DATA_FLAGS = dict(num_pretrain=32, num_train=8, num_val=4, image_size=256)

UNITS = ('bbox_mAP and segm_mAP: COCO mAP@[0.5:0.95] (MMDetection CocoMetric), fractions '
         'in [0, 1]; mIoU: mean IoU over the 8 object classes (MMSegmentation IoUMetric, '
         'background ignored), a percentage in [0, 100].')
METRIC_KEYS = {'bbox_mAP': 'coco/bbox_mAP', 'segm_mAP': 'coco/segm_mAP', 'mIoU': 'mIoU'}
#: Frozen-backbone probes (gtsa_mm.evaluation): seeds, and the fraction of the labelled
#: training images each seed's probes see (a different seeded subset per seed).
PROBE_SEEDS = (0, 1, 2)
PROBE_LABEL_FRACTION = 0.5
PROBE_KEYS = {'probe_linear_mIoU': 'linear_mIoU', 'probe_nn_mIoU': 'nn_mIoU',
              'probe_effective_rank': 'feature_effective_rank'}


# ----------------------------------------------------------------------------- settings
@dataclass
class Settings:
    """How long each stage trains and on how many images (None: the whole split)."""
    pretrain_epochs: int
    det_epochs: int
    seg_iters: int
    pretrain_images: int | None = None
    train_images: int | None = None
    val_images: int | None = None
    pretrain_batch: int | None = None  # None: the config's
    det_batch: int | None = None
    seg_batch: int | None = None
    log_interval: int | None = None


def default_settings(quick: bool) -> Settings:
    """The demo's settings: the demo configs' schedules, or a few iterations of each."""
    if quick:
        return Settings(pretrain_epochs=1, det_epochs=1, seg_iters=4, pretrain_images=16,
                        train_images=8, val_images=4, pretrain_batch=8, det_batch=4,
                        seg_batch=2, log_interval=1)
    from mmengine.config import Config
    return Settings(
        pretrain_epochs=Config.fromfile(str(PRETRAIN_CONFIG)).train_cfg.max_epochs,
        det_epochs=Config.fromfile(str(DET_CONFIG)).train_cfg.max_epochs,
        seg_iters=Config.fromfile(str(SEG_CONFIG)).train_cfg.max_iters)


# ------------------------------------------------------------------------------ configs
def pretrain_config(settings: Settings, data_root: Path, work_dir: Path):
    """The GTSA demo config with ``settings``' schedule and data."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(PRETRAIN_CONFIG))
    epochs = settings.pretrain_epochs
    if epochs != cfg.train_cfg.max_epochs:
        warmup = min(cfg.warmup_epochs, max(epochs - 1, 0))  # lr warm-up
        lr = cfg.optim_wrapper.optimizer.lr
        schedule = [dict(type='CosineAnnealingLR', T_max=epochs - warmup, eta_min=lr / 100,
                         by_epoch=True, begin=warmup, end=epochs,
                         convert_to_iter_based=True),
                    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=epochs,
                         by_epoch=True, begin=0, end=epochs, convert_to_iter_based=True)]
        if warmup:
            schedule.insert(0, dict(type='LinearLR', start_factor=1e-3, by_epoch=True,
                                    begin=0, end=warmup, convert_to_iter_based=True))
        cfg.param_scheduler = schedule
        # the authors' boundary: patch loss off through the last lr warm-up epoch
        cfg.model.patch_loss_warmup_epochs = min(warmup + 1, epochs - 1) if warmup else 0
        cfg.train_cfg.max_epochs = epochs
        cfg.default_hooks.checkpoint.interval = epochs
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


def det_config(settings: Settings, data_root: Path, work_dir: Path, checkpoint: Path | None):
    """The Mask R-CNN demo config: GTSA init from ``checkpoint``, or random (None)."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(DET_CONFIG))
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
    _finetune_runtime(cfg, settings, coco, settings.det_batch, checkpoint, work_dir)
    return cfg


def seg_config(settings: Settings, data_root: Path, work_dir: Path, checkpoint: Path | None):
    """The UperNet demo config: GTSA init from ``checkpoint``, or random (None)."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(SEG_CONFIG))
    iters = settings.seg_iters
    if iters != cfg.train_cfg.max_iters:
        warmup = min(cfg.param_scheduler[0].end, iters // 4)
        cfg.param_scheduler[0].end = warmup
        cfg.param_scheduler[1].update(begin=warmup, end=iters)
        if warmup < 2:
            cfg.param_scheduler = cfg.param_scheduler[1:]
        cfg.train_cfg.update(max_iters=iters, val_interval=iters)
        cfg.default_hooks.checkpoint.interval = iters
    _finetune_runtime(cfg, settings, data_root / 'ade', settings.seg_batch, checkpoint,
                      work_dir)
    return cfg


def _finetune_runtime(cfg, settings: Settings, dataset_root: Path, batch: int | None,
                      checkpoint: Path | None, work_dir: Path) -> None:
    """Data root, subset, batch, backbone init and work dir shared by both fine-tunes."""
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(dataset_root)
    _subset(cfg, settings)
    if batch:
        cfg.train_dataloader.batch_size = batch
    _set_init(cfg, checkpoint)
    _common_runtime(cfg, settings, work_dir)


def _subset(cfg, settings: Settings) -> None:
    if settings.train_images:
        cfg.train_dataloader.dataset.indices = settings.train_images
    if settings.val_images:
        cfg.val_dataloader.dataset.indices = settings.val_images
        cfg.test_dataloader.dataset.indices = settings.val_images


def _set_init(cfg, checkpoint: Path | None) -> None:
    if checkpoint is None:
        cfg.model.backbone.init_cfg = None  # random initialisation, on purpose
    else:
        cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)


def _common_runtime(cfg, settings: Settings, work_dir: Path) -> None:
    cfg.work_dir = str(work_dir)
    if settings.log_interval:
        cfg.default_hooks.logger.interval = settings.log_interval


# ------------------------------------------------------------------------------- stages
@dataclass
class Stage:
    name: str
    title: str
    config: object  # mmengine Config
    needs: tuple[str, ...] = ()
    work_dir: Path = field(init=False)
    seconds: float | None = None  # wall-clock
    cpu_seconds: float | None = None  # user + system time of the process and its workers

    def __post_init__(self) -> None:
        self.work_dir = Path(self.config.work_dir)


def build_stages(settings: Settings, data_root: Path, work_dir: Path,
                 pretrained: Path | None, scratch: bool) -> tuple[list[Stage], Path]:
    """The stages in order of priority, and the GTSA checkpoint the fine-tunes load."""
    stages = []
    if pretrained is None:
        cfg = pretrain_config(settings, data_root, work_dir / 'pretrain')
        stages.append(Stage('pretrain', 'GTSA pretraining', cfg))
        checkpoint = work_dir / 'pretrain' / f'epoch_{settings.pretrain_epochs}.pth'
        needs = ('pretrain',)
    else:
        checkpoint, needs = pretrained.resolve(), ()
    stages += [
        Stage('det_gtsa', 'Mask R-CNN fine-tune + COCO eval, GTSA backbone',
              det_config(settings, data_root, work_dir / 'det_gtsa', checkpoint), needs),
        Stage('seg_gtsa', 'UperNet fine-tune + mIoU eval, GTSA backbone',
              seg_config(settings, data_root, work_dir / 'seg_gtsa', checkpoint), needs),
    ]
    if scratch:
        stages += [
            Stage('det_scratch', 'Mask R-CNN fine-tune + COCO eval, random init',
                  det_config(settings, data_root, work_dir / 'det_scratch', None)),
            Stage('seg_scratch', 'UperNet fine-tune + mIoU eval, random init',
                  seg_config(settings, data_root, work_dir / 'seg_scratch', None)),
        ]
    return stages, checkpoint


_LOG_PREFIX = re.compile(r'^\S+ \S+ - mmengine - \w+ - ')
_PROGRESS = re.compile(r'(Epoch|Iter)\((train|val)\)\s*((?:\[\s*[\d/ ]+\])+)')
_KEY_VALUE = re.compile(r'([\w/]+): (\d+ days?, [\d:]+|\d+:\d\d:\d\d|-?[\d.]+(?:e[-+]?\d+)?)')
_SHOWN_KEYS = ('eta', 'loss', 'loss_region', 'loss_patch', 'loss_rotation',
               'coco/bbox_mAP', 'coco/segm_mAP', 'mIoU', 'mAcc')


def progress_line(line: str) -> str | None:
    """A short form of an MMEngine log line about training progress, or None."""
    line = _LOG_PREFIX.sub('', line.strip())
    match = _PROGRESS.search(line)
    if not match:
        return None
    values = dict(_KEY_VALUE.findall(line[match.end():]))
    if match.group(2) == 'val' and not any(k in values for k in METRIC_KEYS.values()):
        return None  # evaluation progress: only its result is shown
    shown = '  '.join(f'{key.removeprefix("coco/")} {values[key]}' for key in _SHOWN_KEYS
                      if key in values)
    return f'{match.group(1)}({match.group(2)}) {re.sub(r" +", " ", match.group(3))}  {shown}'


class Job:
    """One stage running as a ``tools/train.py`` subprocess with its log in its work dir."""

    def __init__(self, stage: Stage, threads: int) -> None:
        self.stage = stage
        if stage.work_dir.exists():  # a fresh run: no stale checkpoints or metrics
            shutil.rmtree(stage.work_dir)
        stage.work_dir.mkdir(parents=True)
        config_file = stage.work_dir / 'config.py'
        stage.config.dump(str(config_file))
        self.log_path = stage.work_dir / 'train.log'
        env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        self._log = open(self.log_path, 'w')
        self.start = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, str(TRAIN_SCRIPT), str(config_file), '--work-dir',
             str(stage.work_dir)], cwd=REPO, env=env, stdout=self._log,
            stderr=subprocess.STDOUT)
        self._reader = open(self.log_path)
        self._partial = ''

    def new_progress(self) -> list[str]:
        text = self._partial + self._reader.read()
        lines = text.split('\n')
        self._partial = lines.pop()
        return [p for p in map(progress_line, lines) if p]

    def finished(self) -> bool:
        # children's CPU time is added to RUSAGE_CHILDREN when they are reaped, i.e. in
        # this poll(); the only children of the demo are its stage processes
        before = _children_cpu_seconds()
        if self.process.poll() is None:
            return False
        if self.stage.cpu_seconds is None:
            self.stage.cpu_seconds = _children_cpu_seconds() - before
        return True

    def close(self) -> None:
        self._log.close()
        self._reader.close()
        self.stage.seconds = time.perf_counter() - self.start

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.close()


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class StageFailed(RuntimeError):
    pass


def run_stages(stages: list[Stage], jobs: int, threads: int, say) -> list[float]:
    """Run ``stages`` as subprocesses, ``jobs`` at a time, each after the ones it needs.

    Returns the 1-minute load average sampled every 30 s (other work on the machine
    slows the stages down; the samples say by how much it was busy).
    """
    pending, running, done = list(stages), [], set()
    started, load, next_sample = 0, [], 0.
    try:
        while pending or running:
            for stage in list(pending):
                if len(running) < jobs and all(n in done for n in stage.needs):
                    pending.remove(stage)
                    running.append(Job(stage, threads))
                    started += 1
                    say(f'[{started}/{len(stages)}] {stage.title}: started ({threads} '
                        f'thread{"s" * (threads > 1)}, log {stage.work_dir / "train.log"})')
            time.sleep(0.5)
            if time.monotonic() >= next_sample:
                load.append(os.getloadavg()[0])
                next_sample = time.monotonic() + 30
            for job in list(running):
                finished = job.finished()  # before reading, so no line is missed
                for line in job.new_progress():
                    say(f'  {job.stage.name:<11} {line}')
                if finished:
                    running.remove(job)
                    job.close()
                    if job.process.returncode != 0:
                        raise StageFailed(_failure_message(job))
                    done.add(job.stage.name)
                    say(f'  {job.stage.name:<11} done in {format_seconds(job.stage.seconds)} '
                        f'({format_seconds(job.stage.cpu_seconds)} CPU)')
    finally:
        for job in running:
            job.stop()
    return load


def _failure_message(job: Job) -> str:
    tail = job.log_path.read_text(errors='replace').splitlines()[-30:]
    return (f'stage {job.stage.name} failed (exit code {job.process.returncode}); the end of '
            f'{job.log_path}:\n' + '\n'.join(tail))


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f'{minutes}m{seconds:02d}s'


# ------------------------------------------------------------------------------ results
def read_scalars(work_dir: Path) -> list[dict]:
    """The lines of the Runner's ``vis_data/scalars.json`` of its latest run in work_dir."""
    runs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    if not runs:
        return []
    return [json.loads(line) for line in runs[-1].read_text().splitlines() if line.strip()]


def read_metrics(work_dir: Path, keys: Sequence[str], notes: list[str],
                 label: str) -> dict[str, float]:
    """The last evaluation's ``keys`` (our names), as finite floats.

    A missing or non-finite value (CocoMetric returns no metrics when the model predicts
    no box at all) is reported as 0.0 and explained in ``notes``.
    """
    evaluations = [row for row in read_scalars(work_dir)
                   if any(METRIC_KEYS[k] in row for k in keys)]
    last = evaluations[-1] if evaluations else {}
    metrics = {}
    for key in keys:
        value = last.get(METRIC_KEYS[key])
        if value is None or not math.isfinite(float(value)) or float(value) < 0:
            reason = ('the model predicted nothing, so CocoMetric returned no metrics'
                      if key.endswith('mAP') else f'IoUMetric gave {value!r}')
            notes.append(f'{label} {key}: reported as 0.0 because {reason}.')
            value = 0.0
        metrics[key] = float(value)
    return metrics


def collect_results(stages: list[Stage], scratch: bool, notes: list[str]) -> dict:
    by_name = {s.name: s for s in stages}
    results = {}
    for init in ('gtsa', 'scratch'):
        if init == 'scratch' and not scratch:
            results[init] = None
            continue
        label = 'GTSA' if init == 'gtsa' else 'scratch'
        results[init] = {
            **read_metrics(by_name[f'det_{init}'].work_dir, ('bbox_mAP', 'segm_mAP'), notes,
                           label),
            **read_metrics(by_name[f'seg_{init}'].work_dir, ('mIoU',), notes, label)}
    return results


def frozen_probes(checkpoint: Path, data_root: Path, use_teacher: bool,
                  seeds: Sequence[int] = PROBE_SEEDS,
                  fraction: float = PROBE_LABEL_FRACTION) -> dict[str, dict]:
    """Linear and nearest-neighbour segmentation probes of the frozen GTSA backbone (the
    one the fine-tunes start from) and of random inits, once per seed.

    Seed ``s`` gives both the ``s``-th seeded subset of ``fraction`` of the labelled
    training images and, for ``scratch``, the ``s``-th random initialisation. Returns
    ``{'gtsa': {...}, 'scratch': {...}}`` with ``probe_*`` means, ``probe_*_std`` (over
    the seeds, ddof 0) and ``seeds``.
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
                         probe_num_train=results[0]['num_train'])
    return out


def probe_table(results: dict) -> str:
    """Markdown table of the frozen probes: mean ± std over the seeds."""
    rows = ['| frozen backbone | linear probe mIoU (%) | NN retrieval mIoU (%) | eff. rank |',
            '| --- | --- | --- | --- |']
    names = {'gtsa': 'GTSA pretrained', 'scratch': 'random init'}
    for init in ('gtsa', 'scratch'):
        r = results.get(init) or {}
        if 'probe_nn_mIoU' in r:
            rows.append(f'| {names[init]} | ' + ' | '.join(
                f'{r[k]:.2f} ± {r[k + "_std"]:.2f}' for k in PROBE_KEYS) + ' |')
    g, s = results.get('gtsa') or {}, results.get('scratch') or {}
    if 'probe_nn_mIoU' in g and 'probe_nn_mIoU' in s:
        rows.append('| GTSA - random | ' + ' | '.join(
            f'{g[k] - s[k]:+.2f} (spreads {g[k + "_std"]:.2f} / {s[k + "_std"]:.2f})'
            for k in PROBE_KEYS) + ' |')
    return '\n'.join(rows)


def markdown_table(results: dict) -> str:
    rows = ['| backbone init | bbox mAP | segm mAP | mIoU (%) |', '| --- | --- | --- | --- |']
    names = {'gtsa': 'GTSA pretrained', 'scratch': 'random (scratch)'}
    for init in ('gtsa', 'scratch'):
        if results.get(init) and 'bbox_mAP' in results[init]:
            r = results[init]
            rows.append(f'| {names[init]} | {r["bbox_mAP"]:.3f} | {r["segm_mAP"]:.3f} | '
                        f'{r["mIoU"]:.2f} |')
    if all('bbox_mAP' in (results.get(init) or {}) for init in ('gtsa', 'scratch')):
        g, s = results['gtsa'], results['scratch']
        rows.append(f'| GTSA - scratch | {g["bbox_mAP"] - s["bbox_mAP"]:+.3f} | '
                    f'{g["segm_mAP"] - s["segm_mAP"]:+.3f} | {g["mIoU"] - s["mIoU"]:+.2f} |')
    return '\n'.join(rows)


# ------------------------------------------------------------------------------- figures
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


def _pca_rgb(features: torch.Tensor) -> np.ndarray:
    """First three principal components of all tokens, each scaled to [0, 1]."""
    import numpy as np

    n, c, h, w = features.shape
    tokens = features.permute(0, 2, 3, 1).reshape(-1, c).double().numpy()
    tokens = tokens - tokens.mean(0)
    _, _, vt = np.linalg.svd(tokens, full_matrices=False)
    projected = tokens @ vt[:3].T
    low, high = np.percentile(projected, 1, axis=0), np.percentile(projected, 99, axis=0)
    rgb = np.clip((projected - low) / np.maximum(high - low, 1e-8), 0, 1)
    return rgb.reshape(n, h, w, 3)


def plot_pca(pretrain_config_file: Path, checkpoint: Path, data_root: Path, out: Path,
             use_teacher: bool, count: int = 4) -> Path:
    """RGB maps of the first three PCA components of the patch features: GTSA vs random.

    The GTSA backbone is the one the fine-tunes start from: the EMA teacher with
    ``use_teacher``, else the student.
    """
    import cv2
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import gtsa_mm  # noqa: F401  (torch.load allowlist of Runner checkpoints)
    from gtsa_mm.downstream import backbone_prefix, read_state_dict, strip_prefix

    cfg = Config.fromfile(str(pretrain_config_file))
    preprocessor = cfg.model.data_preprocessor
    mean = torch.tensor(preprocessor.mean).view(1, 3, 1, 1)
    std = torch.tensor(preprocessor.std).view(1, 3, 1, 1)
    paths = _val_images(data_root, count)
    images = [cv2.imread(str(p))[..., ::-1].copy() for p in paths]  # RGB
    inputs = (torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() - mean) / std

    def features(backbone) -> np.ndarray:
        backbone.eval()
        with torch.no_grad():
            return _pca_rgb(backbone(inputs)[-1])

    torch.manual_seed(0)
    random_backbone = MODELS.build(cfg.model.backbone)
    random_backbone.init_weights()
    gtsa_backbone = MODELS.build(cfg.model.backbone)
    state = read_state_dict(str(checkpoint))
    gtsa_backbone.load_state_dict(strip_prefix(state, backbone_prefix(use_teacher=use_teacher)))
    title = 'GTSA teacher' if use_teacher else 'GTSA student'
    columns = [('image', images), (title, features(gtsa_backbone)),
               ('random init', features(random_backbone))]
    fig = _picture_grid(columns, figsize=(7.5, 2.5 * len(paths)))
    fig.suptitle('Patch features (last block), first 3 PCA components as RGB', fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


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


def last_checkpoint(work_dir: Path) -> Path:
    record = work_dir / 'last_checkpoint'
    if record.is_file():
        return Path(record.read_text().strip())
    return sorted(work_dir.glob('*.pth'), key=lambda p: p.stat().st_mtime)[-1]


def make_figures(stages: list[Stage], checkpoint: Path, data_root: Path, work_dir: Path,
                 scratch: bool, say) -> list[str]:
    import matplotlib
    from mmengine.logging import MMLogger

    matplotlib.use('Agg')
    MMLogger.get_instance('gtsa_demo', log_level='WARNING')  # no init / load reports
    warnings.simplefilter('ignore')  # deprecation notes of mmseg's model builders

    by_name = {s.name: s for s in stages}
    written = []
    if 'pretrain' in by_name:
        stage = by_name['pretrain']
        path = plot_pretrain_losses(stage.work_dir, work_dir / 'pretrain_losses.png',
                                    stage.config.model.patch_loss_warmup_epochs)
        if path:
            written.append(path)
    init_cfg = by_name['seg_gtsa'].config.model.backbone.init_cfg
    written.append(plot_pca(PRETRAIN_CONFIG, checkpoint, data_root,
                            work_dir / 'pca_features.png', init_cfg.get('use_teacher', False)))
    models = {'GTSA init': by_name['seg_gtsa']}
    if scratch:
        models['random init'] = by_name['seg_scratch']
    classes = by_name['seg_gtsa'].config.metainfo['classes']
    written.append(plot_seg_predictions(
        {title: (s.work_dir / 'config.py', last_checkpoint(s.work_dir))
         for title, s in models.items()}, data_root, work_dir / 'seg_predictions.png',
        classes))
    for path in written:
        say(f'  wrote {path}')
    return [str(p) for p in written]


# ---------------------------------------------------------------------------------- data
def _load_make_demo_data():
    spec = importlib.util.spec_from_file_location('make_demo_data',
                                                  REPO / 'tools' / 'make_demo_data.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses of the module look themselves up here
    spec.loader.exec_module(module)
    return module


def ensure_data(data_root: Path, quick: bool, say) -> bool:
    """Generate the demo data unless ``data_root`` already holds enough of it.

    Returns whether it generated anything.
    """
    flags = QUICK_DATA_FLAGS if quick else DATA_FLAGS
    make_demo_data = _load_make_demo_data()
    meta_file = data_root / 'meta.json'
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        counts = meta.get('num_images', {})
        current = (meta.get('version') == make_demo_data.GENERATOR_VERSION
                   and not meta.get('config', {}).get('class_colours', False))
        if meta.get('complete') and current and all(
                counts.get(split, 0) >= flags[f'num_{split}']
                for split in ('pretrain', 'train', 'val')):
            say(f'data: using {data_root} ({counts})')
            return False
        if meta.get('complete') and not current:
            say(f'data: {data_root} was written by another generator version or with '
                '--class-colours; regenerating')
    say(f'data: generating {data_root} with tools/make_demo_data.py')
    argv = ['--out', str(data_root)]
    for key, value in flags.items():
        argv += [f'--{key.replace("_", "-")}', str(value)]
    status = make_demo_data.main(argv)
    if status:
        raise SystemExit(f'tools/make_demo_data.py failed with exit code {status}')
    return True


# ---------------------------------------------------------------------------------- main
def default_jobs() -> int:
    return 2 if len(os.sched_getaffinity(0)) >= 2 else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='GTSA demo: pretraining -> Mask R-CNN and UperNet fine-tuning (GTSA vs '
                    'random init) on the bundled synthetic data, on a CPU.',
        epilog='See docs/demo.md for what it does, how long it takes and its results.')
    parser.add_argument('--work-dir', type=Path, default=Path('work_dirs/demo'),
                        help='where stages, results.json and pictures go (default: '
                             '%(default)s)')
    parser.add_argument('--data-root', type=Path, default=Path('data/demo'),
                        help='demo data; generated there when missing (default: %(default)s)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny settings for CI: few images, one epoch / 4 iterations')
    parser.add_argument('--skip-scratch', action='store_true',
                        help='skip the random-init fine-tunes (no comparison)')
    parser.add_argument('--pretrained', type=Path, metavar='CHECKPOINT',
                        help='skip pretraining and fine-tune this GTSA Runner checkpoint')
    parser.add_argument('--pretrain-epochs', type=int, help='override the pretraining epochs')
    parser.add_argument('--det-epochs', type=int, help='override the Mask R-CNN epochs')
    parser.add_argument('--seg-iters', type=int, help='override the UperNet iterations')
    parser.add_argument('--jobs', type=int, default=default_jobs(),
                        help='stages run side by side (default: %(default)s)')
    parser.add_argument('--threads', type=int,
                        help='torch threads per stage (default: CPU cores / jobs)')
    parser.add_argument('--no-figures', action='store_true', help='skip the pictures')
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error('--jobs must be at least 1')
    if args.pretrained is not None and not args.pretrained.is_file():
        parser.error(f'--pretrained: no such file: {args.pretrained}')
    return args


def main(argv: Sequence[str] | None = None) -> int:
    warnings.filterwarnings('ignore', message='.*pkg_resources is deprecated')
    args = parse_args(argv)
    start = time.perf_counter()

    def say(message: str) -> None:
        print(message, flush=True)

    work_dir, data_root = args.work_dir.resolve(), args.data_root.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    timings, cpu = {}, {}
    data_start = time.perf_counter()
    ensure_data(data_root, args.quick, say)
    timings['data'] = time.perf_counter() - data_start

    settings = default_settings(args.quick)
    for name in ('pretrain_epochs', 'det_epochs', 'seg_iters'):
        if getattr(args, name) is not None:
            setattr(settings, name, getattr(args, name))
    scratch = not args.skip_scratch
    stages, checkpoint = build_stages(settings, data_root, work_dir, args.pretrained, scratch)
    cpus = len(os.sched_getaffinity(0))
    threads = args.threads or max(1, cpus // args.jobs)
    say(f'{len(stages)} stages, {args.jobs} at a time, {threads} torch thread(s) each; '
        f'work dir {work_dir}')
    try:
        load = run_stages(stages, args.jobs, threads, say)
    except StageFailed as error:
        say(str(error))
        return 1
    for stage in stages:
        timings[stage.name], cpu[stage.name] = stage.seconds, stage.cpu_seconds

    notes = []
    results = collect_results(stages, scratch, notes)
    probe_start = time.perf_counter()
    seg_gtsa = next(s for s in stages if s.name == 'seg_gtsa')
    use_teacher = seg_gtsa.config.model.backbone.init_cfg.get('use_teacher', False)
    probes = frozen_probes(checkpoint, data_root, use_teacher)
    timings['probes'] = time.perf_counter() - probe_start
    for init, numbers in probes.items():
        if results.get(init) is not None:
            results[init].update(numbers)
        elif init == 'scratch':  # --skip-scratch: the random-init probes cost seconds
            results[init] = numbers
    table = markdown_table(results) + '\n\n' + probe_table(results)
    report = dict(
        results, units=UNITS, notes=notes, timings_s=timings, cpu_s=cpu,
        machine=dict(cpus=cpus, load_average_1min=dict(
            mean=round(sum(load) / len(load), 2) if load else None,
            max=max(load, default=None), samples=len(load))),
        settings=dict(asdict(settings), quick=args.quick, jobs=args.jobs, threads=threads),
        pretrained_checkpoint=str(checkpoint), figures=[])
    results_file = work_dir / 'results.json'

    def write_report() -> None:
        timings['total'] = time.perf_counter() - start
        own = resource.getrusage(resource.RUSAGE_SELF)
        cpu['demo_process'] = own.ru_utime + own.ru_stime  # data, figures, bookkeeping
        cpu['total'] = sum(v for k, v in cpu.items() if k != 'total')
        results_file.write_text(json.dumps(report, indent=2) + '\n')

    write_report()
    (work_dir / 'results.md').write_text(table + '\n')
    if not args.no_figures:
        say('figures:')
        figures_start = time.perf_counter()
        report['figures'] = make_figures(stages, checkpoint, data_root, work_dir, scratch, say)
        timings['figures'] = time.perf_counter() - figures_start
        write_report()

    say('\n' + table + '\n')
    say(UNITS)
    for note in notes:
        say(f'note: {note}')
    say('wall time: ' + ', '.join(f'{k} {format_seconds(v)}' for k, v in timings.items()))
    say(f'CPU time: {format_seconds(cpu["total"])} on {cpus} cores; 1-minute load average '
        f'{report["machine"]["load_average_1min"]["mean"]} (mean while training)')
    say(f'results: {results_file}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
