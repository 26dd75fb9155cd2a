"""Fine-tuning after GTSA, DINO and random init at equal pretraining budget
(``tools/compare.py --finetune``).

For every seed ``s`` each method is pretrained once with seed ``s`` (the budget configs
of :mod:`.comparison`, under ``<work-dir>/seed<s>/<method>/``, so the pretrainings of a
frozen-probe comparison with the same ``--work-dir`` and ``--epochs`` are reused), then
the demo's UperNet fine-tunes (all labels and :data:`~.stages.LOW_LABEL_FRACTION` of
them; Mask R-CNN on request) start from its EMA teacher backbone and from random
initialisation with fine-tune seed ``s`` (``<work-dir>/seed<s>/finetune/<kind>_<init>/``).
Seed ``s`` of every init shares data order, head init and label subset, so
``GTSA - DINO`` and ``GTSA - scratch`` are compared seed by seed.

Pretrainings and fine-tunes are :class:`~.jobs.Stage` s run by :func:`~.jobs.run_stages`,
``--jobs`` at a time; with ``--resume`` a pretraining of the same config whose
``last_checkpoint`` names its final epoch (:func:`finished_pretraining`) and a fine-tune
that finished with the same config from the same pretraining checkpoint
(:func:`finished_finetune`) are reused, so a killed run continues where it stopped; the
fine-tunes of a pretraining trained (or awaited) again are run again.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from .comparison import DINO_CONFIG, VARIANTS, budget_config, merge_options
from .jobs import (
    DONE_FILE,
    Stage,
    StageFailed,
    finished_stage,
    format_seconds,
    run_stages,
    training_digest,
)
from .stages import (
    LOW_LABEL_TEXT,
    METRICS,
    PRETRAIN_CONFIG,
    Settings,
    default_settings,
    det_config,
    seg_config,
)

__all__ = [
    'SCRATCH', 'KINDS', 'COLUMNS', 'finetune_settings', 'pretrain_stage', 'config_dump',
    'finished_pretraining', 'recently_written', 'build_finetune_stages', 'finished_finetune',
    'collect_finetunes', 'aggregate_finetunes', 'finetune_markdown', 'plot_finetunes',
    'awaited_checkpoint', 'run_when_ready', 'run_finetune_comparison'
]

#: The random-init row: fine-tuned from a randomly initialised backbone, no pretraining.
SCRATCH = 'scratch'
#: The fine-tune kinds of the comparison in the order they are scheduled; ``det`` only
#: with ``--det`` (the demo ViT's Mask R-CNN stays at box mAP 0.000-0.002, docs/demo.md).
KINDS = ('det', 'seg', 'seg_low_label')
#: (metric, table title, digits) of every fine-tune metric (:data:`~.stages.METRICS`).
COLUMNS = (('mIoU', 'UperNet mIoU (%)', 2),
           ('mIoU_low_label', f'UperNet mIoU, {LOW_LABEL_TEXT} labels (%)', 2),
           ('bbox_mAP', 'Mask R-CNN box mAP', 3),
           ('segm_mAP', 'Mask R-CNN mask mAP', 3))
_NAMES = {'gtsa': 'GTSA', 'dino': 'DINO', SCRATCH: 'random init'}
UNITS = ('mIoU and mIoU_low_label: mean IoU over the 8 object classes (MMSegmentation '
         'IoUMetric, background ignored), percent; bbox_mAP and segm_mAP: COCO '
         'mAP@[0.5:0.95] (CocoMetric), fractions; <metric>_std: std over the seeds (ddof 0); '
         "differences['A - B']: A - B seed by seed (pretraining seed s and fine-tune seed s "
         'for both), mean, std (ddof 0), per-seed runs, wins = seeds with A above.')


def display_name(method: str) -> str:
    """``'gtsa'`` -> ``'GTSA'``, ``'scratch'`` -> ``'random init'``; ablations as named."""
    return _NAMES.get(method, method)


def finetune_settings(quick: bool, seeds: Sequence[int], num_train: int,
                      overrides: dict[str, int | None]) -> Settings:
    """The demo's fine-tune settings (:func:`~.stages.default_settings`) for ``seeds``.

    ``overrides``: ``det_epochs``, ``seg_iters``, ``seg_low_label_iters`` (None: keep).
    The image subsets of ``quick`` are clipped to the ``num_train`` labelled images, so
    the label-scarce subsets are drawn from images that exist.
    """
    settings = default_settings(quick)
    settings.seeds = tuple(seeds)
    for name, value in overrides.items():
        if value is not None:
            setattr(settings, name, value)
    if settings.train_images:
        settings.train_images = min(settings.train_images, num_train)
    return settings


# ----------------------------------------------------------------------------- stages
def pretrain_stage(method: str, seed: int, seed_dir: Path, epochs: int, pretrain_root: str,
                   num_images: int | None, batch_size: int | None) -> Stage:
    """The pretraining of ``method`` (a :data:`~.comparison.VARIANTS` name) with ``seed``:
    its budget config (:func:`~.comparison.budget_config`) with the variant's options,
    writing to ``<seed_dir>/<method>``, as ``tools/compare.py`` without ``--finetune``."""
    options = VARIANTS[method]
    cfg = budget_config(DINO_CONFIG if options is None else PRETRAIN_CONFIG, epochs,
                        pretrain_root, num_images, batch_size, seed)
    merge_options(cfg, options)  # the `--cfg-options` of tools/compare.py
    cfg.work_dir = str(seed_dir / method)
    return Stage(f'pretrain_{method}_seed{seed}',
                 f'{display_name(method)} pretraining, {epochs} epochs, seed {seed}', cfg)


def config_dump(run_dir: Path) -> Path | None:
    """The config the last Runner in ``run_dir`` dumped there (its newest top-level ``*.py``:
    ``config.py`` of a :class:`~.jobs.Stage`, ``<config name>.py`` of a ``tools/train.py``
    run), or None."""
    dumps = [path for path in run_dir.glob('*.py') if path.is_file()]
    return max(dumps, key=lambda path: path.stat().st_mtime_ns) if dumps else None


def finished_pretraining(run_dir: Path, epochs: int, config=None) -> Path | None:
    """The final checkpoint of a finished pretraining in ``run_dir``, or None.

    Finished: ``last_checkpoint`` names ``epoch_<epochs>.pth`` and that file exists (a
    preempted run points it at ``iter_<n>.pth``; a run of other epochs at its own). Given
    ``config`` (the pretraining config to be trained, an mmengine Config), the run must
    also have trained it: the config its Runner dumped (:func:`config_dump`) has the same
    :func:`~.jobs.training_digest` (model, data, images, batch, schedule, seed; not the
    hooks) and is older than the checkpoint (a newer one: a later run started there). A
    folder without a dump is judged by its checkpoint alone.
    """
    last = run_dir / 'last_checkpoint'
    if not last.is_file():
        return None
    checkpoint = Path(last.read_text().strip())
    if not checkpoint.is_absolute():
        checkpoint = run_dir / checkpoint.name
    if checkpoint.name != f'epoch_{epochs}.pth' or not checkpoint.is_file():
        return None
    dump = config_dump(run_dir) if config is not None else None
    if dump is not None:
        from mmengine.config import Config

        if dump.stat().st_mtime_ns > checkpoint.stat().st_mtime_ns:
            return None
        trained = Config.fromfile(str(dump), import_custom_modules=False)
        if training_digest(trained) != training_digest(config):
            return None
    return checkpoint


def recently_written(run_dir: Path, seconds: float = 30.) -> bool:
    """Whether a file under ``run_dir`` changed in the last ``seconds`` (a run that another
    process may still be writing, which starting the stage again would delete)."""
    if not run_dir.is_dir():
        return False
    now = time.time()
    return any(now - path.stat().st_mtime < seconds for path in run_dir.rglob('*')
               if path.is_file())


def finetune_stage_name(kind: str, init: str, seed: int) -> str:
    return f'{kind}_{init}_seed{seed}'


def build_finetune_stages(settings: Settings, data_root: Path, work_dir: Path,
                          checkpoints: dict[tuple[str, int], Path], kinds: Sequence[str],
                          num_train: int, needs: dict[tuple[str, int], str]) -> list[Stage]:
    """One fine-tune stage per seed, kind and init, in the order to run them.

    Args:
        checkpoints: ``(method, seed)`` -> the pretraining checkpoint its fine-tunes load
            (its EMA teacher, the demo configs' ``use_teacher=True``); the random-init
            stages (:data:`SCRATCH`) load nothing.
        kinds: Fine-tune kinds, a subset of :data:`KINDS`.
        num_train: Labelled training images (the label-scarce subsets are drawn from them).
        needs: ``(method, seed)`` -> the name of the pretraining stage to wait for, when it
            runs in the same :func:`~.jobs.run_stages` call.
    """
    methods = list(dict.fromkeys(method for method, _ in checkpoints))
    stages = []
    for seed in settings.seeds:
        for kind in (k for k in KINDS if k in kinds):  # the longest kind first
            for init in [*methods, SCRATCH]:
                checkpoint = None if init == SCRATCH else checkpoints[init, seed]
                out = work_dir / f'seed{seed}' / 'finetune' / f'{kind}_{init}'
                if kind == 'det':
                    cfg = det_config(settings, data_root, out, checkpoint, seed)
                else:
                    cfg = seg_config(settings, data_root, out, checkpoint, seed,
                                     low_label=kind == 'seg_low_label', num_train=num_train)
                wait = needs.get((init, seed))
                stages.append(Stage(finetune_stage_name(kind, init, seed),
                                    f'{kind} fine-tune from {display_name(init)}, seed {seed}',
                                    cfg, (wait,) if wait else (), loads=checkpoint))
    return stages


def finished_finetune(stage: Stage, retrained: Collection[Path]) -> dict | None:
    """What an earlier run of the fine-tune ``stage`` recorded (:func:`~.jobs.finished_stage`),
    or None when it must run again.

    ``retrained``: the pretraining checkpoints that this run trains or awaits. A fine-tune
    of one of them is never reused: its folder holds a fine-tune of the checkpoint that
    was there before, whose path is the same. Of the others, a record with the loaded
    checkpoint's identity is reused when the checkpoint is still that file; an older
    record without it when its config matches.
    """
    if stage.loads is not None and stage.loads in retrained:
        return None
    return finished_stage(stage)


# ------------------------------------------------------------------------------ numbers
def collect_finetunes(stages: Sequence[Stage], inits: Sequence[str], kinds: Sequence[str],
                      seeds: Sequence[int], notes: list[str]) -> dict[str, dict[str, list]]:
    """``{init: {metric: [value of seed s for s in seeds]}}`` from the fine-tunes' logs
    (:func:`~.results.read_metrics`: a missing mAP is 0.0 with a note)."""
    from .results import read_metrics

    by_name = {stage.name: stage for stage in stages}
    values: dict[str, dict[str, list]] = {}
    for init in inits:
        values[init] = {}
        for kind in (k for k in KINDS if k in kinds):
            for seed in seeds:
                stage = by_name[finetune_stage_name(kind, init, seed)]
                label = f'{display_name(init)} seed {seed}'
                for key, value in read_metrics(stage.work_dir, METRICS[kind], notes,
                                               label).items():
                    values[init].setdefault(key, []).append(value)
    return values


def aggregate_finetunes(values: dict[str, dict[str, list[float]]], seeds: Sequence[int],
                        reference: str = 'gtsa') -> dict:
    """Means, spreads and seed-paired differences of per-seed fine-tune metrics.

    Args:
        values: ``{init: {metric: per-seed values}}``, every list in the order of ``seeds``.
        seeds: The seeds (pretraining seed = fine-tune seed).
        reference: The init every other one is compared with (the first one if absent).

    Returns:
        dict: ``results[init]``: each metric's mean and ``<metric>_std`` over the seeds
        (ddof 0), the per-seed values under ``runs`` and the ``seeds``;
        ``differences['<reference> - <other>'][metric]``: :func:`paired_difference` of
        the two inits seed by seed (``mean``, ``std``, ``runs``, ``wins``).
    """
    from gtsa_mm.evaluation import paired_difference, spread

    for init, metrics in values.items():
        for key, runs in metrics.items():
            if len(runs) != len(seeds):
                raise ValueError(f'aggregate_finetunes: {init} {key} has {len(runs)} values '
                                 f'for {len(seeds)} seeds')
    results = {}
    for init, metrics in values.items():
        per_seed = [dict(zip(metrics, row)) for row in zip(*metrics.values())]
        results[init] = dict(spread(per_seed, list(metrics)), seeds=list(seeds),
                             runs={key: list(runs) for key, runs in metrics.items()})
    if reference not in values:
        reference = next(iter(values))
    differences = {}
    for other in values:
        if other == reference:
            continue
        differences[f'{reference} - {other}'] = {
            key: paired_difference(runs, values[other][key])
            for key, runs in values[reference].items() if key in values[other]}
    return dict(results=results, differences=differences)


def _columns(document: dict) -> list[tuple[str, str, int]]:
    present = {key for row in document['results'].values() for key in row['runs']}
    return [column for column in COLUMNS if column[0] in present]


def finetune_markdown(document: dict) -> str:
    """The tables of a ``finetune.json`` document: mean ± std per init, the seed-paired
    differences with the seeds ahead, the per-seed values and the wall times."""
    s = document['settings']
    columns = _columns(document)
    lines = [f"Fine-tuning after {s['epochs']} pretraining epochs on {s['num_images']} "
             f"images (pretraining seed s -> fine-tune seed s, seeds "
             f"{', '.join(map(str, s['seeds']))}); UperNet {s['seg_iters']} iterations, "
             f"{LOW_LABEL_TEXT} labels {s['seg_low_label_iters']} iterations"
             + (f", Mask R-CNN {s['det_epochs']} epochs" if 'det' in s['kinds'] else '')
             + '; mean ± std over the seeds (ddof 0)', '',
             '| backbone init | ' + ' | '.join(title for _, title, _ in columns) + ' |',
             '| --- |' + ' ---: |' * len(columns)]
    for init, row in document['results'].items():
        lines.append(f'| {display_name(init)} | ' + ' | '.join(
            f"{row[key]:.{digits}f} ± {row[key + '_std']:.{digits}f}"
            for key, _, digits in columns) + ' |')
    if document['differences']:
        lines += ['', 'Paired by seed (mean ± std of the per-seed differences; seeds ahead):',
                  '', '| difference | ' + ' | '.join(t for _, t, _ in columns) + ' |',
                  '| --- |' + ' ---: |' * len(columns)]
        for pair, by_key in document['differences'].items():
            names = ' - '.join(display_name(name) for name in pair.split(' - '))
            cells = []
            for key, _, digits in columns:
                d = by_key.get(key)
                cells.append('n/a' if d is None else
                             f"{d['mean']:+.{digits}f} ± {d['std']:.{digits}f} "
                             f"({d['wins']}/{len(d['runs'])})")
            lines.append(f'| {names} | ' + ' | '.join(cells) + ' |')
    inits = list(document['results'])
    lines += ['', 'Per seed (' + ' / '.join(display_name(i) for i in inits) + '):', '',
              '| seed | ' + ' | '.join(t for _, t, _ in columns) + ' |',
              '| --- |' + ' --- |' * len(columns)]
    for i, seed in enumerate(s['seeds']):
        lines.append(f'| {seed} | ' + ' | '.join(
            ' / '.join(f"{document['results'][init]['runs'][key][i]:.{digits}f}"
                       for init in inits) for key, _, digits in columns) + ' |')
    timings = document.get('timings_s') or {}
    if timings.get('total') is not None:
        lines += ['', f"Wall time: {format_seconds(timings['total'])} in all, "
                      f"{s['jobs']} stage(s) at a time; stages reused from an earlier run: "
                      f"{len(document.get('reused', []))}."]
    return '\n'.join(lines)


def plot_finetunes(document: dict, path: Path) -> None:
    """One panel per metric: a bar per init (mean, error bar = std over the seeds) and
    each seed's value as a dot, the dots of one seed joined across the inits."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    columns = _columns(document)
    inits = list(document['results'])
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns) + 1, 3.6),
                             squeeze=False)
    x = np.arange(len(inits))
    for ax, (key, title, _) in zip(axes[0], columns):
        rows = [document['results'][init] for init in inits]
        ax.bar(x, [r[key] for r in rows], 0.6, yerr=[r[f'{key}_std'] for r in rows],
               capsize=4, color=[f'C{i}' for i in range(len(inits))], alpha=0.6)
        for i, seed in enumerate(document['settings']['seeds']):
            ax.plot(x, [r['runs'][key][i] for r in rows], 'o-', color='0.2', alpha=0.5,
                    markersize=4, linewidth=0.8, label=f'seed {seed}' if key == columns[0][0]
                    else None)
        ax.set_xticks(x, [display_name(init) for init in inits], fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[0][0].legend(fontsize=7)
    s = document['settings']
    fig.suptitle(f"Fine-tuning after {s['epochs']} pretraining epochs (mean ± std, "
                 f"{len(s['seeds'])} seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------ the run
def awaited_checkpoint(stage: Stage, awaited: dict[Path, Stage]) -> Path | None:
    """The checkpoint of another process that the fine-tune ``stage`` loads, if any.

    A pretraining stage loads none: its backbone's ``init_cfg`` is a list of initialisers
    (or None), not the ``GTSAPretrained`` dict of a fine-tune."""
    init_cfg = stage.config.model.get('backbone', {}).get('init_cfg')
    checkpoint = init_cfg.get('checkpoint') if isinstance(init_cfg, dict) else None
    if checkpoint is None:
        return None
    return Path(checkpoint) if Path(checkpoint) in awaited else None


def run_when_ready(stages: list[Stage], awaited: dict[Path, Stage], epochs: int, jobs: int,
                   threads: int, say, poll_s: float = 30.) -> list[float]:
    """:func:`~.jobs.run_stages` for the stages whose pretraining is there, then, as the
    ``awaited`` checkpoints (written by another process; -> the pretraining stage that
    writes them) finish with their stage's config, for the fine-tunes that load them.
    Returns the load average samples."""
    load, remaining, last_note = [], list(stages), 0.
    while remaining:
        ready = [stage for stage in remaining
                 if (checkpoint := awaited_checkpoint(stage, awaited)) is None
                 or finished_pretraining(checkpoint.parent, epochs,
                                         awaited[checkpoint].config) is not None]
        if not ready:
            if time.monotonic() - last_note > 300:
                checkpoints = (awaited_checkpoint(stage, awaited) for stage in remaining)
                missing = sorted({awaited[c].name for c in checkpoints if c is not None})
                say(f'waiting for the pretraining(s) of another process: {", ".join(missing)}')
                last_note = time.monotonic()
            time.sleep(poll_s)
            continue
        remaining = [stage for stage in remaining if stage not in ready]
        load += run_stages(ready, jobs, threads, say)
    return load


def _num_train(data_root: Path) -> int:
    meta = json.loads((data_root / 'meta.json').read_text())
    return int(meta['num_images']['train'])


def run_finetune_comparison(args: argparse.Namespace, epochs: int, data_root: Path,
                            work_dir: Path, command: str) -> int:
    """Pretrain (or reuse), fine-tune, aggregate; write ``finetune.{json,md,png}``.

    ``args``: the parsed ``tools/compare.py`` arguments (``methods``, ``seeds``,
    ``num_images``, ``batch_size``, ``resume``, ``det``, ``jobs``, ``threads``,
    ``quick`` and the schedule overrides).
    """
    from gtsa_mm.evaluation import json_safe

    start = time.perf_counter()

    def say(message: str) -> None:
        print(message, flush=True)

    seeds = args.seeds or [args.seed]
    num_train = _num_train(data_root)
    settings = finetune_settings(args.quick, seeds, num_train, dict(
        det_epochs=args.det_epochs, seg_iters=args.seg_iters,
        seg_low_label_iters=args.seg_low_label_iters))
    kinds = ('det', 'seg', 'seg_low_label') if args.det else ('seg', 'seg_low_label')
    pretrain_root = str((data_root / 'pretrain').resolve()) + '/'

    stages, checkpoints, needs, reused, awaited = [], {}, {}, {}, {}
    for seed in seeds:
        seed_dir = work_dir / f'seed{seed}'
        for method in args.methods:
            stage = pretrain_stage(method, seed, seed_dir, epochs, pretrain_root,
                                   args.num_images, args.batch_size)
            reuse = args.resume or args.wait_pretraining
            done = (finished_pretraining(stage.work_dir, epochs, stage.config) if reuse
                    else None)
            if done is not None:
                checkpoints[method, seed] = done
                reused[stage.name] = None
                say(f'{stage.name}: reusing {done}')
            elif args.wait_pretraining:  # another process writes it
                checkpoints[method, seed] = stage.work_dir / f'epoch_{epochs}.pth'
                awaited[checkpoints[method, seed]] = stage
                say(f'{stage.name}: waiting for {checkpoints[method, seed]}')
            else:
                if recently_written(stage.work_dir):
                    raise SystemExit(
                        f'tools/compare.py: {stage.work_dir} was written in the last 30 s '
                        'and holds no finished pretraining: another process may be training '
                        'there. Let it finish (then --resume reuses it) or stop it.')
                checkpoints[method, seed] = stage.work_dir / f'epoch_{epochs}.pth'
                needs[method, seed] = stage.name
                stages.append(stage)
    finetunes = build_finetune_stages(settings, data_root, work_dir, checkpoints, kinds,
                                      num_train, needs)
    retrained = {checkpoints[key] for key in needs} | set(awaited)
    for stage in finetunes:
        done = finished_finetune(stage, retrained) if args.resume else None
        if done is not None:
            stage.seconds, stage.cpu_seconds = done.get('seconds'), done.get('cpu_seconds')
            reused[stage.name] = stage.seconds
            say(f'{stage.name}: reusing {stage.work_dir}')
        else:
            if args.resume and stage.loads in retrained and (stage.work_dir / DONE_FILE).is_file():
                say(f'{stage.name}: run again, its pretraining is trained again')
            stages.append(stage)

    cpus = len(os.sched_getaffinity(0))
    threads = args.threads or max(1, cpus // args.jobs)
    say(f'{len(stages)} stages to run ({len(reused)} reused), {args.jobs} at a time, '
        f'{threads} torch thread(s) each; seeds {list(seeds)}; work dir {work_dir}')
    try:
        load = run_when_ready(stages, awaited, epochs, args.jobs, threads, say)
    except StageFailed as error:
        say(str(error))
        return 1

    notes: list[str] = []
    inits = [*args.methods, SCRATCH]
    values = collect_finetunes(finetunes, inits, kinds, seeds, notes)
    document = aggregate_finetunes(values, seeds)
    timings = {stage.name: stage.seconds for stage in stages}
    timings.update({name: seconds for name, seconds in reused.items()})
    timings['total'] = time.perf_counter() - start
    document.update(
        settings=dict(epochs=epochs, num_images=args.num_images or 'all',
                      batch_size=args.batch_size, methods=list(args.methods), seeds=list(seeds),
                      kinds=list(kinds), seg_iters=settings.seg_iters,
                      seg_low_label_iters=settings.seg_low_label_iters,
                      det_epochs=settings.det_epochs,
                      low_label_fraction=settings.low_label_fraction,
                      train_images=settings.train_images, val_images=settings.val_images,
                      quick=args.quick, jobs=args.jobs, threads=threads,
                      data_root=str(data_root), command=command),
        checkpoints={f'{method}/seed{seed}': str(path)
                     for (method, seed), path in checkpoints.items()},
        units=UNITS, notes=notes, timings_s=timings, reused=sorted(reused),
        load_average_1min=load)

    work_dir.mkdir(parents=True, exist_ok=True)
    table = finetune_markdown(document)
    (work_dir / 'finetune.json').write_text(json.dumps(json_safe(document), indent=2) + '\n')
    (work_dir / 'finetune.md').write_text(table + '\n')
    plot_finetunes(document, work_dir / 'finetune.png')
    say('\n' + table + '\n')
    for note in notes:
        say(f'note: {note}')
    say('wall time per stage:')
    for name, seconds in timings.items():
        if name != 'total':
            say(f'  {name:<28} ' + ('reused' if seconds is None else format_seconds(seconds))
                + (' (reused)' if name in reused and seconds is not None else ''))
    say(f"total wall time: {format_seconds(timings['total'])}")
    say(f'wrote {work_dir}/finetune.{{json,md,png}}')
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--finetune`` options of ``tools/compare.py``."""
    group = parser.add_argument_group(
        'fine-tune comparison (--finetune)',
        'fine-tune UperNet (all labels and 1/8 of them) from each pretraining and from '
        'random init, pretraining seed s -> fine-tune seed s; writes finetune.{json,md,png}')
    group.add_argument('--finetune', action='store_true',
                       help='fine-tune instead of probing the frozen features')
    group.add_argument('--wait-pretraining', action='store_true',
                       help='train no pretraining: reuse the finished ones and wait for the '
                            'others to be written by another process (a running tools/'
                            'compare.py with the same --work-dir, --epochs and --seeds), '
                            'fine-tuning random init and the finished ones meanwhile')
    group.add_argument('--det', action='store_true',
                       help='also fine-tune Mask R-CNN (off by default: the demo ViT does not '
                            'detect at this budget, docs/demo.md)')
    group.add_argument('--seg-iters', type=int, help='UperNet iterations (default: the config)')
    group.add_argument('--seg-low-label-iters', type=int,
                       help='label-scarce UperNet iterations (default: the config)')
    group.add_argument('--det-epochs', type=int, help='Mask R-CNN epochs (default: the config)')
    group.add_argument('--jobs', type=int, default=2 if len(os.sched_getaffinity(0)) >= 2 else 1,
                       help='stages run side by side (default: %(default)s)')
    group.add_argument('--threads', type=int,
                       help='torch threads per stage (default: CPU cores / jobs)')
