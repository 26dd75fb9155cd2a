"""Feature pictures of mmpretrain ViT checkpoints: PCA of the patch features as RGB,
nearest-neighbour patch correspondences between an image and its flipped (or turned)
view, and the last block's attention.

    python tools/visualize_features.py work_dirs/run/epoch_100.pth photo1.jpg photo2.jpg \
        --out work_dirs/run/pictures
    # beside a random init of the same ViT and a DINO run, one PCA scale for all
    python tools/visualize_features.py work_dirs/run/epoch_100.pth img/*.jpg --out pics \
        --compare random work_dirs/dino/epoch_100.pth --names GTSA random DINO
    # an extracted backbone (tools/extract_backbone.py) needs its architecture
    python tools/visualize_features.py vit_backbone.pth img.jpg --out pics --arch deit-small

Writes pca.png, correspondences_<model>.png and attention_<model>.png (docs/visualization.md).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# gtsa_mm is imported in main(), so that --help answers at once.


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint', help="Runner checkpoint (GTSA, DINO), extracted "
                        "backbone, or 'random' (with --config or --arch)")
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out', required=True, help='folder for the PNG files')
    parser.add_argument('--compare', nargs='+', default=[], metavar='CHECKPOINT',
                        help='more checkpoints (or random) drawn beside the first')
    parser.add_argument('--names', nargs='+', help='a title per checkpoint')
    parser.add_argument('--config', help="config whose model.backbone is the ViT (default: "
                        "the checkpoint's meta['cfg'])")
    parser.add_argument('--arch', help="mmpretrain ViT arch, e.g. deit-small")
    parser.add_argument('--patch-size', type=int, default=16, help='with --arch')
    parser.add_argument('--teacher', action='store_true',
                        help="the EMA teacher of Runner checkpoints (default: the student)")
    parser.add_argument('--img-size', type=int, help="input side (default: the backbone's)")
    parser.add_argument('--view', default='hflip',
                        help='how the second view of the first image is made: hflip, vflip, '
                        'rot90, rot180, rot270 (gtsa_mm.visualization.VIEW_TRANSFORMS)')
    parser.add_argument('--seed', type=int, default=0, help='seed of random inits')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    from mmengine.logging import MMLogger

    import gtsa_mm  # noqa: F401  (registers components, checkpoint types)
    from gtsa_mm.visualization import visualize_checkpoints

    # keep init_weights' per-parameter INFO lines out of the list of files
    MMLogger.get_instance('visualize_features', log_level='WARNING')
    try:
        files = visualize_checkpoints(
            [args.checkpoint, *args.compare], args.images, args.out, config=args.config,
            arch=args.arch, patch_size=args.patch_size, names=args.names,
            teacher=args.teacher, img_size=args.img_size, view_transform=args.view,
            seed=args.seed)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        sys.exit(f'tools/visualize_features.py: {error}')
    for path in files.values():
        print(path)


if __name__ == '__main__':
    main()
