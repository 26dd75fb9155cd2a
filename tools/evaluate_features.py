#!/usr/bin/env python
"""Frozen-backbone dense probes of GTSA / DINO checkpoints (and random inits).

    python tools/evaluate_features.py work_dirs/demo/pretrain/epoch_24.pth random \\
        --data-root data/demo/ade --out work_dirs/probes.json
    python tools/evaluate_features.py A.pth B.pth --teacher --label-fraction 0.125 --subsets 3

Each CHECKPOINT is a Runner checkpoint of GTSA or DINO pretraining (its student
``backbone.*``, or with ``--teacher`` the EMA teacher's) or ``random`` for a randomly
initialised backbone of the same architecture. The probes (linear segmentation,
Hummingbird nearest-neighbour retrieval, position, rotation, collapse monitor) live in
:mod:`gtsa_mm.evaluation`; docs/evaluation.md describes them and their numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from gtsa_mm.evaluation import (
    PROBES,
    RANDOM,
    DenseProbeSettings,
    evaluate_checkpoints,
    json_safe,
    load_probe_data,
    markdown_table,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Frozen-backbone dense probes (linear segmentation and nearest-neighbour '
                    'retrieval mIoU, position and rotation accuracy, collapse monitor) of '
                    'GTSA / DINO pretraining checkpoints on a labelled probe set.')
    parser.add_argument('checkpoints', nargs='+', metavar='CHECKPOINT',
                        help=f"Runner checkpoint(s); '{RANDOM}' for a randomly initialised "
                             'backbone of the same architecture')
    data = parser.add_argument_group('probe set (ADE20K/VOC-style folders)')
    data.add_argument('--data-root', default='data/demo/ade',
                      help='folder with images/ and annotations/ {training,validation} '
                           '(default: %(default)s)')
    data.add_argument('--no-reduce-zero-label', action='store_true',
                      help='label maps whose 0 is a class (VOC); default: ADE20K rule, 0 '
                           'ignored')
    data.add_argument('--num-classes', type=int, help="default: meta.json's classes, else "
                      'the largest label + 1')
    data.add_argument('--label-size', type=int,
                      help='resize label maps to this square size (needed when sizes differ)')
    data.add_argument('--max-train', type=int, help='use at most this many training images')
    data.add_argument('--max-val', type=int, help='use at most this many validation images')
    model = parser.add_argument_group('backbone')
    model.add_argument('--config', help="pretraining config whose model.backbone to use "
                       "(default: the checkpoint's meta['cfg']; needed for 'random' alone)")
    model.add_argument('--arch', help="instead of a config: an mmpretrain ViT arch "
                       "('deit-small', 'deit-tiny', ...) with --patch-size")
    model.add_argument('--patch-size', type=int, default=16,
                       help='patch size with --arch (default: %(default)s)')
    model.add_argument('--teacher', action='store_true',
                       help='probe the EMA teacher backbone instead of the student')
    model.add_argument('--img-size', type=int,
                       help="input side in pixels (default: the backbone's img_size)")
    probe = parser.add_argument_group('probes')
    probe.add_argument('--probes', nargs='+', choices=PROBES, default=list(PROBES))
    probe.add_argument('--label-fraction', type=float, default=1.0,
                       help='fraction of labelled training images the segmentation probes '
                            'see (default: %(default)s)')
    probe.add_argument('--subsets', type=int, default=1,
                       help='with --label-fraction < 1: repeat over this many seeded subsets '
                            'and report mean and std (default: %(default)s)')
    probe.add_argument('--nn-k', type=int, default=30, help='neighbours (default: %(default)s)')
    probe.add_argument('--nn-temperature', type=float, default=0.07,
                       help='softmax temperature (default: %(default)s)')
    probe.add_argument('--bank-size', type=int,
                       help='memory bank size (default: every labelled training patch)')
    probe.add_argument('--alpha', type=float, default=1e-3,
                       help='ridge strength of the linear probes (default: %(default)s)')
    probe.add_argument('--rot-crop', type=float, default=0.3,
                       help='rotation probe: side of the turned crop as a fraction of the '
                            'image (default: %(default)s)')
    probe.add_argument('--seed', type=int, default=0, help='seed (default: %(default)s)')
    parser.add_argument('--device', default='cpu', help='torch device (default: %(default)s)')
    parser.add_argument('--out', help='write the results as JSON here')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if all(c == RANDOM for c in args.checkpoints) and not (args.config or args.arch):
        parser.error(f"'{RANDOM}' alone needs --config or --arch")
    for c in args.checkpoints:
        if c != RANDOM and not Path(c).is_file():
            parser.error(f'checkpoint not found: {c}')
    if args.subsets > 1 and args.label_fraction >= 1:
        parser.error('--subsets needs --label-fraction below 1 (with every image, all '
                     'subsets are the same)')
    from mmengine.logging import MMLogger

    # keep init_weights' per-parameter INFO lines out of the table
    MMLogger.get_instance('evaluate_features', log_level='WARNING')
    try:
        data = load_probe_data(args.data_root, num_classes=args.num_classes,
                               reduce_zero_label=not args.no_reduce_zero_label,
                               label_size=args.label_size, max_train=args.max_train,
                               max_val=args.max_val)
    except (OSError, ValueError) as error:
        parser.exit(2, f'evaluate_features.py: error: --data-root {args.data_root}: {error}; '
                       'give --data-root a folder with images/ and annotations/ '
                       '{training,validation}\n')
    try:
        settings = DenseProbeSettings(
            probes=tuple(args.probes), alpha=args.alpha, nn_k=args.nn_k,
            nn_temperature=args.nn_temperature, bank_size=args.bank_size,
            label_fraction=args.label_fraction, rot_crop=args.rot_crop, seed=args.seed)
        results = evaluate_checkpoints(
            args.checkpoints, data, settings, config=args.config, teacher=args.teacher,
            arch=args.arch, patch_size=args.patch_size, device=args.device,
            img_size=args.img_size, subset_seeds=range(args.subsets))
    except (OSError, ValueError) as error:
        parser.exit(2, f'evaluate_features.py: error: {error}\n')
    print(markdown_table(results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(json_safe(results), indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
