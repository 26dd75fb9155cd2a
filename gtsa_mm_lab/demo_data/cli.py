"""Command line of the demo data generator (``tools/make_demo_data.py``)."""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from .dataset import (
    DEFAULT_OUT,
    OWNED_ENTRIES,
    GeneratorConfig,
    generate,
    is_up_to_date,
    read_meta,
)


def parse_image_size(text: str) -> tuple[int, int]:
    """``'256'`` -> (256, 256); ``'320x240'`` -> (width 320, height 240)."""
    parts = text.lower().split('x')
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 32:
        raise argparse.ArgumentTypeError(f'expected N or WxH with sides >= 32, got {text!r}')
    return (values[0], values[-1])


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected a non-negative integer, got {text!r}')
    return value


def _image_count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'expected at least 1 image, got {text!r} (the demo configs read every split)')
    return value


def build_parser() -> argparse.ArgumentParser:
    defaults = GeneratorConfig()
    parser = argparse.ArgumentParser(
        description='Generate the deterministic synthetic scene data of the gtsa-mm demo: '
                    'unlabelled pretraining images, COCO instances and ADE20K-style '
                    'semantic labels of the same scenes.')
    parser.add_argument('--out', default=DEFAULT_OUT, help='output root (default: %(default)s)')
    parser.add_argument('--seed', type=_non_negative, default=defaults.seed,
                        help='random seed (default: %(default)s)')
    parser.add_argument('--num-pretrain', type=_image_count, default=defaults.num_pretrain,
                        help='unlabelled pretraining images (default: %(default)s)')
    parser.add_argument('--num-train', type=_image_count, default=defaults.num_train,
                        help='labelled training images (default: %(default)s)')
    parser.add_argument('--num-val', type=_image_count, default=defaults.num_val,
                        help='labelled validation images (default: %(default)s)')
    parser.add_argument('--image-size', type=parse_image_size,
                        default=(defaults.width, defaults.height), metavar='N|WxH',
                        help='image size, one int for square images (default: 256)')
    parser.add_argument('--min-objects', type=int, default=defaults.min_objects,
                        help='fewest labelled objects drawn per scene (default: %(default)s)')
    parser.add_argument('--max-objects', type=int, default=defaults.max_objects,
                        help='most labelled objects drawn per scene (default: %(default)s)')
    parser.add_argument('--class-colours', action='store_true',
                        help='fixed colours per class (default: random colours per object, so '
                             'only shape and texture tell the classes apart)')
    parser.add_argument('--object-scale', type=float, default=defaults.object_scale,
                        help='size factor of the labelled objects (default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the output is up to date, and overwrite a '
                             'folder that this tool did not write')
    parser.add_argument('--quiet', action='store_true', help='no progress bar or summary')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.min_objects <= args.max_objects:
        parser.error('need 1 <= --min-objects <= --max-objects')
    if not args.object_scale > 0:
        parser.error(f'--object-scale must be positive, got {args.object_scale}')
    width, height = args.image_size
    config = GeneratorConfig(seed=args.seed, width=width, height=height,
                             num_pretrain=args.num_pretrain, num_train=args.num_train,
                             num_val=args.num_val, min_objects=args.min_objects,
                             max_objects=args.max_objects, class_colours=args.class_colours,
                             object_scale=args.object_scale)
    out = Path(args.out)
    if not args.force and is_up_to_date(out, config):
        if not args.quiet:
            print(f'{out} is up to date (seed {config.seed}, {width}x{height}); '
                  'use --force to regenerate')
        return 0
    if not args.force and out.is_dir() and any(out.iterdir()) and read_meta(out) is None:
        if any((out / entry).exists() for entry in OWNED_ENTRIES):
            parser.error(f'{out} holds data this tool did not write; pass --force to replace '
                         f'its {", ".join(OWNED_ENTRIES)}')
    start = time.perf_counter()
    meta = generate(out, config, quiet=args.quiet)
    seconds = time.perf_counter() - start
    total = config.num_pretrain + config.num_train + config.num_val
    if not args.quiet:
        instances = meta['num_instances']
        print(f'wrote {total} images of {width}x{height} to {out} '
              f'({instances["train"]} train / {instances["val"]} val instances) in '
              f'{seconds:.1f} s ({1000 * seconds / max(total, 1):.1f} ms/image)')
    return 0

