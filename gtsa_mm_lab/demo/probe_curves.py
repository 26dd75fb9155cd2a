"""``DenseProbeHook`` curves of pretraining runs: a table at chosen epochs and one plot
(``tools/probe_curves.py``).

The hook sends every number to the visualizer as ``dense_probe/<student|teacher>/<key>``
at the iteration it probed (``<work_dir>/<timestamp>/vis_data/scalars.json``) and writes
one log line per backbone, ``DenseProbe(<which>) after E epochs, I iterations``, which
gives the epoch of each iteration.
"""
from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path

#: The curves drawn and tabulated: scalar key -> label.
CURVES = {
    'feature_effective_rank': 'effective rank',
    'nn_mIoU': 'NN mIoU (%)',
    'linear_mIoU': 'linear mIoU (%)',
    'rot_acc': 'rotation acc (%)',
}
_PROBE_LINE = re.compile(r'DenseProbe\((student|teacher)\) after (\d+) epochs, (\d+) iterations')


def latest_run(work_dir: Path) -> Path:
    """The newest ``<timestamp>`` folder of a Runner work dir that holds a scalars file."""
    runs = sorted(p.parent.parent for p in Path(work_dir).glob('*/vis_data/scalars.json'))
    if not runs:
        raise FileNotFoundError(f'{work_dir}: no <timestamp>/vis_data/scalars.json; is it the '
                                'work dir of a pretraining run with DenseProbeHook?')
    return runs[-1]


def read_probe_curves(work_dir: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """``{which: {key: [(epoch, value), ...]}}`` of the newest run in ``work_dir``."""
    run = latest_run(work_dir)
    epochs_at = {}
    for log in run.glob('*.log'):
        for match in _PROBE_LINE.finditer(log.read_text(errors='replace')):
            epochs_at[int(match.group(3))] = int(match.group(2))
    curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for line in (run / 'vis_data' / 'scalars.json').read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        step = row.get('step')
        for name, value in row.items():
            if not name.startswith('dense_probe/') or step not in epochs_at:
                continue
            _, which, key = name.split('/', 2)
            curves.setdefault(which, {}).setdefault(key, []).append((epochs_at[step], value))
    if not curves:
        raise ValueError(f'{run}: no dense_probe/* scalars with a DenseProbe log line')
    return curves


def value_at(curve: list[tuple[int, float]], epoch: int) -> float | None:
    return next((v for e, v in curve if e == epoch), None)


def markdown(runs: dict[str, dict], epochs: Sequence[int], which: Sequence[str]) -> str:
    """One row per run, backbone and curve; one column per epoch."""
    lines = ['| run | backbone | probe | ' + ' | '.join(f'epoch {e}' for e in epochs) + ' |',
             '| --- | --- | --- | ' + ' | '.join('---:' for _ in epochs) + ' |']
    for label, curves in runs.items():
        for backbone in which:
            for key, name in CURVES.items():
                curve = curves.get(backbone, {}).get(key, [])
                cells = [value_at(curve, e) for e in epochs]
                lines.append(f'| {label} | {backbone} | {name} | ' + ' | '.join(
                    '-' if v is None else f'{v:.2f}' for v in cells) + ' |')
    return '\n'.join(lines)


def plot(runs: dict[str, dict], which: Sequence[str], out: Path) -> Path:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(CURVES), figsize=(4 * len(CURVES), 3.4))
    for ax, (key, name) in zip(axes, CURVES.items()):
        for label, curves in runs.items():
            for backbone, style in zip(which, ('-', '--')):
                curve = curves.get(backbone, {}).get(key, [])
                if curve:
                    ax.plot(*zip(*curve), style, marker='o', markersize=3,
                            label=f'{label} {backbone}')
        ax.set_title(name)
        ax.set_xlabel('epoch')
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='+', type=Path,
                        help='Runner work dirs of pretraining runs with DenseProbeHook')
    parser.add_argument('--labels', nargs='+', help='one name per work dir (default: folder)')
    parser.add_argument('--epochs', nargs='+', type=int, default=[0, 24, 48, 96],
                        help='epochs of the table (default: 0 24 48 96)')
    parser.add_argument('--backbones', nargs='+', default=['student', 'teacher'],
                        choices=['student', 'teacher'])
    parser.add_argument('--out', type=Path, help='write the plot (PNG) and OUT.md here')
    args = parser.parse_args(argv)
    labels = args.labels or [p.name for p in args.work_dirs]
    if len(labels) != len(args.work_dirs):
        parser.error(f'--labels names {len(labels)} runs for {len(args.work_dirs)} work dirs')
    runs = {label: read_probe_curves(path) for label, path in zip(labels, args.work_dirs)}
    table = markdown(runs, args.epochs, args.backbones)
    print(table)
    if args.out:
        plot(runs, args.backbones, args.out)
        args.out.with_suffix('.md').write_text(table + '\n')
        print(f'wrote {args.out} and {args.out.with_suffix(".md")}')
    return 0
