"""The demo's command line (``tools/demo.py``, ``make demo``): data, stages, probes,
results and pictures."""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from .jobs import StageFailed, format_seconds, run_stages
from .results import (
    UNITS,
    collect_results,
    finetune_table,
    frozen_probes,
    paired_differences,
    probe_table,
)
from .stages import build_stages, default_settings, stages_of

#: ``tools/make_demo_data.py`` flags of the demo's data set, and of ``--quick``'s.
DATA_FLAGS = dict(num_pretrain=512, num_train=128, num_val=32, image_size=256)
QUICK_DATA_FLAGS = dict(num_pretrain=32, num_train=8, num_val=4, image_size=256)


def ensure_data(data_root: Path, flags: dict, say) -> bool:
    """Generate demo data with ``flags`` unless ``data_root`` already holds enough of it.

    Returns whether it generated anything.
    """
    from gtsa_mm_lab.demo_data import GENERATOR_VERSION, GeneratorConfig
    from gtsa_mm_lab.demo_data.cli import main as make_demo_data

    meta_file = data_root / 'meta.json'
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        counts, config = meta.get('num_images', {}), meta.get('config', {})
        defaults = GeneratorConfig()
        current = (meta.get('version') == GENERATOR_VERSION
                   and not config.get('class_colours', False)
                   and all(config.get(key, getattr(defaults, key))
                           == flags.get(key, getattr(defaults, key))
                           for key in ('object_scale', 'min_objects', 'max_objects')))
        if meta.get('complete') and current and all(
                counts.get(split, 0) >= flags[f'num_{split}']
                for split in ('pretrain', 'train', 'val')):
            say(f'data: using {data_root} ({counts})')
            return False
        if meta.get('complete') and not current:
            say(f'data: {data_root} was written by another generator version or with other '
                'object settings; regenerating')
    say(f'data: generating {data_root} with tools/make_demo_data.py')
    argv = ['--out', str(data_root), '--quiet']
    for key, value in flags.items():
        argv += [f'--{key.replace("_", "-")}', str(value)]
    status = make_demo_data(argv)
    if status:
        raise SystemExit(f'tools/make_demo_data.py failed with exit code {status}')
    return True


def default_jobs() -> int:
    return 2 if len(os.sched_getaffinity(0)) >= 2 else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='GTSA demo: pretraining -> Mask R-CNN and UperNet fine-tuning (GTSA vs '
                    'random init, several seeds) on the bundled synthetic data, on a CPU.',
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
    parser.add_argument('--seeds', type=int, nargs='+',
                        help='fine-tune and probe seeds (default: 0 1 2; --quick: 0 1)')
    parser.add_argument('--pretrain-epochs', type=int, help='override the pretraining epochs')
    parser.add_argument('--det-epochs', type=int, help='override the Mask R-CNN epochs')
    parser.add_argument('--seg-iters', type=int, help='override the UperNet iterations')
    parser.add_argument('--seg-low-label-iters', type=int,
                        help='override the label-scarce UperNet iterations')
    parser.add_argument('--jobs', type=int, default=default_jobs(),
                        help='stages run side by side (default: %(default)s)')
    parser.add_argument('--threads', type=int,
                        help='torch threads per stage (default: CPU cores / jobs)')
    parser.add_argument('--no-figures', action='store_true', help='skip the pictures')
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error('--jobs must be at least 1')
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must be distinct, got {args.seeds}')
    if args.pretrained is not None and not args.pretrained.is_file():
        parser.error(f'--pretrained: no such file: {args.pretrained}')
    return args


def _machine(cpus: int, load: list[float]) -> dict:
    return dict(cpus=cpus, load_average_1min=dict(
        mean=round(sum(load) / len(load), 2) if load else None,
        max=max(load, default=None), samples=len(load)))


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
    flags = QUICK_DATA_FLAGS if args.quick else DATA_FLAGS
    ensure_data(data_root, flags, say)
    timings['data'] = time.perf_counter() - data_start

    settings = default_settings(args.quick)
    for name in ('pretrain_epochs', 'det_epochs', 'seg_iters', 'seg_low_label_iters'):
        if getattr(args, name) is not None:
            setattr(settings, name, getattr(args, name))
    if args.seeds:
        settings.seeds = tuple(args.seeds)
    scratch = not args.skip_scratch
    stages, checkpoint = build_stages(settings, data_root, work_dir, args.pretrained, scratch,
                                      num_train=flags['num_train'])
    cpus = len(os.sched_getaffinity(0))
    threads = args.threads or max(1, cpus // args.jobs)
    say(f'{len(stages)} stages, {args.jobs} at a time, {threads} torch thread(s) each; '
        f'seeds {list(settings.seeds)}; work dir {work_dir}')
    try:
        load = run_stages(stages, args.jobs, threads, say)
    except StageFailed as error:
        say(str(error))
        return 1
    for stage in stages:
        timings[stage.name], cpu[stage.name] = stage.seconds, stage.cpu_seconds

    notes = []
    results = collect_results(stages, scratch, settings.seeds, notes)
    probe_start = time.perf_counter()
    seg_gtsa = stages_of(stages, 'seg', 'gtsa')[0]
    use_teacher = seg_gtsa.config.model.backbone.init_cfg.get('use_teacher', False)
    probes = frozen_probes(checkpoint, data_root, use_teacher, settings.seeds)
    timings['probes'] = time.perf_counter() - probe_start
    for init, numbers in probes.items():
        if results.get(init) is not None:
            results[init].update(numbers)
        elif init == 'scratch':  # --skip-scratch: the random-init probes cost seconds
            results[init] = numbers
    table = finetune_table(results) + '\n\n' + probe_table(results)
    report = dict(
        results, differences=paired_differences(results), units=UNITS, notes=notes,
        timings_s=timings, cpu_s=cpu,
        machine=_machine(cpus, load),
        settings=dict(asdict(settings), quick=args.quick, jobs=args.jobs, threads=threads,
                      data=flags),
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
        from .figures import make_figures

        say('figures:')
        figures_start = time.perf_counter()
        report['figures'] = make_figures(stages, checkpoint, data_root, work_dir, scratch, say)
        timings['figures'] = time.perf_counter() - figures_start
        write_report()

    say('\n' + table + '\n')
    say(UNITS)
    for note in notes:
        say(f'note: {note}')
    say(f'wall time: total {format_seconds(timings["total"])}, pretrain '
        + format_seconds(timings.get('pretrain', 0.0)) + ', probes '
        + format_seconds(timings['probes']))
    say(f'CPU time: {format_seconds(cpu["total"])} on {cpus} cores; 1-minute load average '
        f'{report["machine"]["load_average_1min"]["mean"]} (mean while training)')
    say(f'results: {results_file}')
    return 0
