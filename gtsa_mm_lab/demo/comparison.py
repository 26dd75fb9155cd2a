"""GTSA vs. its ablations vs. DINO at equal budget on the demo data (``tools/compare.py``).

Every method is pretrained by ``tools/train.py`` (one subprocess each) from a demo
pretraining config with the budget (epochs, images, batch, seed) set on it:
``configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py`` for GTSA and its ablations (each
one ``--cfg-options`` away, :data:`VARIANTS`) and
``configs/dino/dino_vit-tiny-p8_1xb32-coslr-24e_demo.py`` (same ViT, crops, data, optimiser)
for DINO. The probes of :mod:`gtsa_mm.evaluation` then score each last checkpoint and a
randomly initialised backbone.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .jobs import REPO, TRAIN_SCRIPT
from .schedules import set_pretrain_epochs
from .stages import PRETRAIN_CONFIG

DINO_CONFIG = REPO / 'configs/dino/dino_vit-tiny-p8_1xb32-coslr-24e_demo.py'

#: name -> --cfg-options on top of the GTSA budget config (None: the DINO config)
VARIANTS: dict[str, list[str] | None] = {
    'gtsa': [],
    'no_rotation': ['model.head.rotation_head=None'],
    'no_patch': ['model.head.patch_loss=None'],
    'no_rotate_target': ['model.head.region_loss.rotate_target=False'],
    'global_target': ['model.head.target=global'],
    'dino': None,
}


def budget_config(config: Path, epochs: int, data_root: str, num_images: int | None,
                  batch_size: int | None, seed: int):
    """The demo pretraining ``config`` with the comparison's budget set on it.

    Its schedule ends after ``epochs`` (lr warm-up: a tenth of them, at most 2), its
    ``DenseProbeHook`` probes 4 times on the labelled split next to ``data_root``
    (``probe_data_root``: ``<demo data>/ade`` beside ``<demo data>/pretrain``).
    """
    from mmengine.config import Config

    from gtsa_mm.engine.hooks.dense_probe_hook import PROBE_DATA_ROOT

    cfg = Config.fromfile(str(config))
    set_pretrain_epochs(cfg, epochs, warmup_epochs=min(2, epochs // 10))
    cfg.randomness.seed = seed
    cfg[PROBE_DATA_ROOT] = str(Path(data_root).parent / 'ade')  # what DenseProbeHook reads
    for hook in cfg.custom_hooks:
        if hook.type == 'DenseProbeHook':
            hook.interval = max(1, epochs // 4)
    loader = cfg.train_dataloader
    loader.dataset.data_root = data_root
    if num_images:
        loader.dataset.indices = num_images
    if batch_size:
        loader.batch_size = batch_size
    return cfg


def merge_options(cfg, options: Sequence[str] | None) -> None:
    """Merge a variant's ``--cfg-options`` into ``cfg`` as ``tools/train.py`` parses them."""
    from mmengine.config import DictAction

    if options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--cfg-options', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--cfg-options', *options]).cfg_options)


def write_configs(work_dir: Path, epochs: int, data_root: str, num_images: int | None,
                  batch_size: int | None, seed: int) -> dict[str, Path]:
    """``{'gtsa': budget config, 'dino': DINO budget config}`` written under ``work_dir``."""
    folder = work_dir / 'configs'
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, config in (('gtsa', PRETRAIN_CONFIG), ('dino', DINO_CONFIG)):
        written[name] = folder / f'{name}_budget_{epochs}e.py'
        budget_config(config, epochs, data_root, num_images, batch_size,
                      seed).dump(str(written[name]))
    return written


def train(name: str, configs: dict[str, Path], work_dir: Path, resume: bool,
          epochs: int) -> tuple[Path, float | None]:
    """Pretrain one variant with tools/train.py; its last checkpoint and the seconds
    (None for a finished run of ``epochs`` epochs reused with ``resume``)."""
    from mmengine.config import Config

    from .finetune_comparison import finished_pretraining

    options = VARIANTS[name]
    config = configs['dino'] if options is None else configs['gtsa']
    run_dir = work_dir / name
    last = run_dir / 'last_checkpoint'
    if resume:  # the config tools/train.py trains: the budget config and the options
        cfg = Config.fromfile(str(config))
        merge_options(cfg, options)
        done = finished_pretraining(run_dir, epochs, cfg)
        if done is not None:
            return done, None
    cmd = [sys.executable, str(TRAIN_SCRIPT), str(config), '--work-dir', str(run_dir)]
    if options:
        cmd += ['--cfg-options', *options]
    print('$ ' + ' '.join(cmd), flush=True)
    start = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / 'train_stdout.log', 'w') as log:
        proc = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not last.is_file():
        tail = (run_dir / 'train_stdout.log').read_text()[-3000:]
        raise SystemExit(f'tools/compare.py: pretraining {name} failed '
                         f'(exit {proc.returncode}):\n{tail}')
    return Path(last.read_text().strip()), seconds


def assemble(results: Sequence[dict], train_seconds: dict[str, float], settings: dict) -> dict:
    """The JSON document: settings plus one row per backbone."""
    rows = []
    for r in results:
        row = dict(r)
        row['train_seconds'] = train_seconds.get(r['name'])
        rows.append(row)
    return dict(settings=settings, results=rows)


#: the probes whose difference to the random backbone is reported paired by seed
PAIRED_KEYS = ('linear_mIoU', 'nn_mIoU', 'rot_acc')


def aggregate(documents: Sequence[dict]) -> dict:
    """One document out of per-seed ones (same methods, one seed each).

    Every number of a row becomes its mean over the seeds, ``<key>_std`` its spread (ddof 0)
    and ``runs`` the per-seed rows. ``differences[name][key]``: the seed-paired
    ``name - random`` of each :data:`PAIRED_KEYS` probe (same seed for the pretraining and
    for the random init), with ``mean``, ``std``, ``runs`` and ``wins`` (seeds above random).
    """
    from gtsa_mm.evaluation import is_number, paired_difference, spread

    names = [r['name'] for r in documents[0]['results']]
    for document in documents[1:]:
        if [r['name'] for r in document['results']] != names:
            raise ValueError('aggregate: the seeds were run with different methods: '
                             f"{names} vs {[r['name'] for r in document['results']]}")
    by_name = {name: [next(r for r in d['results'] if r['name'] == name) for d in documents]
               for name in names}
    rows = []
    for runs in by_name.values():
        # labels that all seeds share; per-seed lists and paths stay in ``runs``
        row = {k: v for k, v in runs[0].items()
               if (isinstance(v, str) and k != 'checkpoint') or k == 'grid'}
        keys = sorted({k for r in runs for k, v in r.items() if is_number(v)})
        # integer settings all seeds share (input size, token dims, image counts) stay as is
        fixed = {k for k in keys if all(isinstance(r.get(k), int) for r in runs)
                 and len({r[k] for r in runs}) == 1}
        row.update({k: runs[0][k] for k in fixed})
        row.update(spread(runs, [k for k in keys if k not in fixed]), runs=runs)
        rows.append(row)
    differences = {}
    if 'random' in by_name:
        for name, runs in by_name.items():
            if name == 'random':
                continue
            differences[name] = {}
            for key in PAIRED_KEYS:
                pairs = [(r[key], base[key]) for r, base in zip(runs, by_name['random'])
                         if is_number(r.get(key)) and is_number(base.get(key))]
                differences[name][key] = paired_difference([a for a, _ in pairs],
                                                           [b for _, b in pairs])
    settings = dict(documents[0]['settings'])
    settings.pop('seed', None)
    settings['seeds'] = [d['settings']['seed'] for d in documents]
    return dict(settings=settings, results=rows, differences=differences)


def markdown(document: dict) -> str:
    from gtsa_mm.evaluation import COLUMNS, markdown_table

    rows = [dict(row) for row in document['results']]
    for row in rows:
        seconds = row.get('train_seconds')
        row['train min'] = None if seconds is None else round(seconds / 60, 1)
    s = document['settings']
    seeds = (f"; seeds {', '.join(map(str, s['seeds']))} (mean ± std)" if 'seeds' in s
             else f"; seed {s['seed']}" if 'seed' in s else '')
    head = (f"{s['epochs']} epochs x {s['num_images']} images, batch {s['batch_size']}, "
            f"config {s['config']}; probes: {s['num_train']} train / {s['num_val']} val "
            f'images{seeds}')
    text = head + '\n\n' + markdown_table(rows, (*COLUMNS, ('train min', 'pretrain min')))
    differences = document.get('differences')
    if differences:
        title = dict(COLUMNS)
        lines = ['', '', 'Each method - random init, paired by seed (mean ± std; seeds ahead '
                         'of random):', '',
                 '| method | ' + ' | '.join(f'{title[k]} - random' for k in PAIRED_KEYS)
                 + ' |', '| --- |' + ' ---: |' * len(PAIRED_KEYS)]
        for name, by_key in differences.items():
            cells = [f"{d['mean']:+.2f} ± {d['std']:.2f} ({d['wins']}/{len(d['runs'])})"
                     for d in (by_key[k] for k in PAIRED_KEYS)]
            lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
        text += '\n'.join(lines)
    return text


def plot(document: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    from gtsa_mm.evaluation import COLUMNS

    columns = [c for c in COLUMNS if c[0].endswith(('mIoU', 'acc'))]  # the percentages
    rows = document['results']
    names = [r['name'] for r in rows]
    x = np.arange(len(columns))
    width = 0.8 / max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, r in enumerate(rows):
        values = [r.get(key) if r.get(key) is not None else float('nan')
                  for key, _ in columns]
        errors = [r.get(f'{key}_std') if r.get(f'{key}_std') is not None else 0.
                  for key, _ in columns]
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, values, width, label=names[i],
               yerr=errors, capsize=2)
    ax.set_xticks(x, [title for _, title in columns])
    ax.set_ylabel('%')
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, ncol=min(len(rows), 4))
    seeds = document['settings'].get('seeds')
    ax.set_title(f"frozen-feature probes after {document['settings']['epochs']} epochs"
                 + (f' (mean ± std over {len(seeds)} seeds)' if seeds else ''))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Pretrain GTSA, its 4 ablations and DINO with equal budget on the demo '
                    'data (tools/train.py), probe their frozen features '
                    '(tools/evaluate_features.py) and a random init; print a Markdown '
                    'table, write results.json / results.md / results.png.')
    parser.add_argument('--work-dir',
                        help='runs and results go here (default: work_dirs/compare; '
                             '--preset: work_dirs/study_gpu)')
    parser.add_argument('--epochs', type=int,
                        help="pretraining epochs of every method (default: the demo config's "
                             'max_epochs; 2 with --quick)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: 2 epochs on 64 images, batch 16, probes on 32 / 8 '
                             'images')
    parser.add_argument('--num-images', type=int,
                        help='pretrain on the first N images only (default: all; 64 quick)')
    parser.add_argument('--batch-size', type=int, help="override the config's batch size")
    parser.add_argument('--data-root',
                        help='demo data root (made by tools/make_demo_data.py if missing; '
                             'default: data/demo; --preset: data/demo_gpu)')
    parser.add_argument('--methods', nargs='+', choices=list(VARIANTS),
                        help='which methods to run (default: all; --finetune and --preset: '
                             'gtsa dino)')
    parser.add_argument('--img-size', type=int, help='probe input side (default: the config)')
    parser.add_argument('--max-train', type=int, help='probe training images (default: all)')
    parser.add_argument('--max-val', type=int, help='probe validation images (default: all)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the pretraining runs and of the random init (default: '
                             '%(default)s)')
    parser.add_argument('--seeds', type=int, nargs='+',
                        help='run every method once per seed (under <work-dir>/seed<S>/) and '
                             'report mean ± std over the seeds and each method - random paired '
                             'by seed; replaces --seed')
    parser.add_argument('--resume', action='store_true',
                        help='reuse finished runs found in the work dir')
    parser.add_argument('--device',
                        help='probe device (default: cpu; --preset: the training and probe '
                             'device, cuda, or cpu with --quick)')
    from . import finetune_comparison, gpu_study

    finetune_comparison.add_arguments(parser)
    gpu_study.add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must be distinct, got {args.seeds}')
    if args.jobs < 1:
        parser.error('--jobs must be at least 1')
    if args.preset and args.finetune:
        parser.error('--preset and --finetune are separate studies; pass one')
    if args.preset:
        from .gpu_study import run_gpu_study

        args.methods = args.methods or ['gtsa', 'dino']
        args.work_dir = args.work_dir or 'work_dirs/study_gpu'
        args.data_root = args.data_root or 'data/demo_gpu'
        return run_gpu_study(args, _command(argv))
    args.methods = args.methods or (['gtsa', 'dino'] if args.finetune else list(VARIANTS))
    args.work_dir = args.work_dir or 'work_dirs/compare'
    args.data_root = args.data_root or 'data/demo'
    args.device = args.device or 'cpu'
    from mmengine.config import Config

    if args.quick:
        args.epochs = args.epochs or 2
        args.num_images = args.num_images or 64
        args.batch_size = args.batch_size or 16
        args.max_train = args.max_train or 32
        args.max_val = args.max_val or 8
    epochs = args.epochs or Config.fromfile(str(PRETRAIN_CONFIG)).train_cfg.max_epochs
    data_root = Path(args.data_root)
    if not (data_root / 'meta.json').is_file():
        from gtsa_mm_lab.demo_data.cli import main as make_demo_data

        status = make_demo_data(['--out', str(data_root)])
        if status:
            raise SystemExit(f'tools/make_demo_data.py failed with exit code {status}')
    work_dir = Path(args.work_dir).resolve()
    if args.finetune:
        from .finetune_comparison import run_finetune_comparison

        return run_finetune_comparison(args, epochs, data_root.resolve(), work_dir,
                                       _command(argv))
    if args.seeds:
        documents = [run_seed(args, seed, work_dir / f'seed{seed}', epochs, data_root, argv)
                     for seed in args.seeds]
        document = aggregate(documents)
        document['settings']['command'] = _command(argv)
        write_results(document, work_dir)
    else:
        run_seed(args, args.seed, work_dir, epochs, data_root, argv)
    return 0


def _command(argv: Sequence[str] | None) -> str:
    return ' '.join(['python', 'tools/compare.py', *(argv if argv is not None else sys.argv[1:])])


def run_seed(args: argparse.Namespace, seed: int, work_dir: Path, epochs: int,
             data_root: Path, argv: Sequence[str] | None) -> dict:
    """Pretrain every method with ``seed`` under ``work_dir``, probe them and a random init
    seeded alike, and write that seed's ``results.{json,md,png}`` there. With
    ``--resume`` a finished seed (its results.json with the same methods, epochs and
    images) is read back."""
    from mmengine.config import Config

    from gtsa_mm.evaluation import (
        DenseProbeSettings,
        evaluate_checkpoints,
        load_probe_data,
    )

    saved = work_dir / 'results.json'
    if args.resume and saved.is_file():
        document = json.loads(saved.read_text())
        done = document['settings']
        if ([r['name'] for r in document['results']] == [*args.methods, 'random']
                and (done['epochs'], done['num_images']) == (epochs, args.num_images or 'all')):
            print(f'seed {seed}: reusing {saved}', flush=True)
            return document
    configs = write_configs(work_dir, epochs, str((data_root / 'pretrain').resolve()) + '/',
                            args.num_images, args.batch_size, seed)
    budget = Config.fromfile(str(configs['gtsa']))

    checkpoints, train_seconds = {}, {}
    for name in args.methods:
        checkpoints[name], train_seconds[name] = train(name, configs, work_dir,
                                                       args.resume, epochs)
        seconds = train_seconds[name]
        print(f'{name}: {checkpoints[name]}'
              + ('' if seconds is None else f' ({seconds:.0f} s)'), flush=True)

    names = [*checkpoints, 'random']
    data = load_probe_data(data_root / 'ade', max_train=args.max_train, max_val=args.max_val)
    results = evaluate_checkpoints([str(c) for c in checkpoints.values()] + ['random'], data,
                                   DenseProbeSettings(seed=seed),
                                   config=str(configs['gtsa']), img_size=args.img_size,
                                   device=args.device, names=names)
    settings = dict(config=str(PRETRAIN_CONFIG.relative_to(REPO)), epochs=epochs,
                    num_images=args.num_images or 'all',
                    batch_size=budget.train_dataloader.batch_size, seed=seed,
                    num_train=results[0]['num_train'], num_val=results[0]['num_val'],
                    command=_command(argv))
    document = assemble(results, train_seconds, settings)
    write_results(document, work_dir)
    return document


def write_results(document: dict, work_dir: Path) -> None:
    """Print the table; write results.json, results.md and results.png under work_dir."""
    from gtsa_mm.evaluation import json_safe

    table = markdown(document)
    print(table)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / 'results.json').write_text(json.dumps(json_safe(document), indent=2) + '\n')
    (work_dir / 'results.md').write_text(table + '\n')
    plot(document, work_dir / 'results.png')
    print(f'wrote {work_dir}/results.{{json,md,png}}')
