"""Draw GTSA's views of a pretraining config's training images: each source image with every
crop box, and the views as the model sees them (after their quarter turn), with the region
each (global, other) pair shares outlined and each view's turn written on it.

    python tools/browse_views.py configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py \
        --images 4 --out work_dirs/views
    # another folder of images, the paper's crops
    python tools/browse_views.py configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py \
        --out views --cfg-options train_dataloader.dataset.data_root=photos/

Writes views_<index>_<image>.png per sample (docs/visualization.md); the library is
gtsa_mm.visualization.views.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# gtsa_mm is imported in main(), so that --help answers at once.


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='pretraining config (GTSAMultiCrop in the train pipeline)')
    parser.add_argument('--out', required=True, help='folder for the PNG files')
    parser.add_argument('--images', type=int, default=4, help='number of samples (default 4)')
    parser.add_argument('--start', type=int, default=0, help='index of the first sample')
    parser.add_argument('--seed', type=int, default=0,
                        help="the sampler's seed (the config's randomness.seed; default 0, "
                             "the demo configs'): sample i of epoch e is drawn from "
                             'aug_seed=(seed, e, i), as SeededSampler seeds it')
    parser.add_argument('--epoch', type=int, default=0,
                        help='the training epoch whose crops are drawn (default 0, the first)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='key=value settings merged into the config, e.g. '
                        'train_dataloader.dataset.data_root=DIR')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.images < 1:
        sys.exit('tools/browse_views.py: --images must be at least 1')
    from gtsa_mm.visualization.views import browse_views

    try:
        paths = browse_views(args.config, args.out, num_images=args.images, start=args.start,
                             seed=args.seed, epoch=args.epoch,
                             cfg_options=args.cfg_options)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f'tools/browse_views.py: {error}')
    for path in paths:
        print(path)


if __name__ == '__main__':
    main()
