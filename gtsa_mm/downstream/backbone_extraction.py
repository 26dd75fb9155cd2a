"""The student or teacher ViT of a GTSA Runner checkpoint as a weight file of its own
(``tools/extract_backbone.py``): MMPretrain's ``VisionTransformer`` keys or timm's.

The MMPretrain file is ``{'state_dict': <VisionTransformer keys>, 'meta': {...}}``: use
it with ``init_cfg=dict(type='Pretrained', checkpoint=FILE)`` (no prefix) or
``init_cfg=dict(type='GTSAPretrained', checkpoint=FILE, prefix='')``. The timm file
is a bare state dict for ``timm.create_model('vit_small_patch16_224', num_classes=0)``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from collections.abc import Sequence

import torch

from .backbone_checkpoint import (
    BackboneCheckpointError,
    backbone_prefix,
    describe_key_groups,
    read_state_dict,
    strip_prefix,
)
from .timm_keys import mmpretrain_vit_to_timm

# Keys every mmpretrain VisionTransformer state dict has.
_REQUIRED_KEYS = ('patch_embed.projection.weight', 'pos_embed', 'layers.0.attn.qkv.weight')


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (Sequence[str], optional): Arguments without the program name.
            Defaults to None (``sys.argv[1:]``).

    Returns:
        argparse.Namespace: checkpoint, teacher, out, format.
    """
    parser = argparse.ArgumentParser(
        description='Extract the student (default) or teacher ViT backbone of a GTSA '
        'pretraining checkpoint into an MMPretrain or timm weight file.')
    parser.add_argument('checkpoint', help='GTSA Runner checkpoint (work_dirs/.../epoch_N.pth)')
    parser.add_argument('--teacher', action='store_true',
                        help='take the EMA teacher (target_net.module.0.*) instead of the '
                        'student (backbone.*)')
    parser.add_argument('--format', choices=('mmpretrain', 'timm'), default='mmpretrain',
                        help="key layout: mmpretrain VisionTransformer (in {'state_dict', "
                        "'meta'}) or timm VisionTransformer (bare state dict); "
                        'default: mmpretrain')
    parser.add_argument('--out', help='output file; default: next to the checkpoint, '
                        '<name>_<student|teacher>_backbone[_timm].pth')
    return parser.parse_args(argv)


def default_out_path(checkpoint: str, teacher: bool, fmt: str) -> str:
    """``<dir>/<name>_<student|teacher>_backbone[_timm].pth`` next to the checkpoint.

    Args:
        checkpoint (str): The input checkpoint path.
        teacher (bool): Whether the teacher is extracted.
        fmt (str): ``'mmpretrain'`` or ``'timm'``.

    Returns:
        str: The output path.
    """
    stem = osp.splitext(checkpoint)[0]
    suffix = '_timm' if fmt == 'timm' else ''
    return f"{stem}_{'teacher' if teacher else 'student'}_backbone{suffix}.pth"


def extract_backbone(checkpoint: str, teacher: bool = False,
                     fmt: str = 'mmpretrain') -> dict:
    """Build the object to save for one backbone of a GTSA checkpoint.

    Args:
        checkpoint (str): GTSA Runner checkpoint path.
        teacher (bool): Extract the EMA teacher instead of the student.
            Defaults to False.
        fmt (str): ``'mmpretrain'`` (dict with ``state_dict`` and ``meta``) or
            ``'timm'`` (bare state dict in timm's key layout). Defaults to
            ``'mmpretrain'``.

    Returns:
        dict: What to ``torch.save``.

    Raises:
        BackboneCheckpointError: The checkpoint has no ViT under the prefix.
    """
    from gtsa_mm import __version__

    prefix = backbone_prefix(use_teacher=teacher)
    full = read_state_dict(checkpoint)
    state_dict = strip_prefix(full, prefix)
    missing = [key for key in _REQUIRED_KEYS if key not in state_dict]
    if missing:
        raise BackboneCheckpointError(
            f'{checkpoint!r} has no mmpretrain VisionTransformer under prefix {prefix!r} '
            f'(missing {missing}); the file has: {describe_key_groups(full)}. '
            'Is it a GTSA pretraining checkpoint?')
    state_dict = {key: value.detach().clone() for key, value in state_dict.items()}
    if fmt == 'timm':
        return mmpretrain_vit_to_timm(state_dict)
    meta = dict(source=osp.abspath(checkpoint), prefix=prefix,
                role='teacher' if teacher else 'student', format='mmpretrain',
                embed_dims=int(state_dict['pos_embed'].shape[-1]),
                num_layers=1 + max(int(key.split('.')[1]) for key in state_dict
                                   if key.startswith('layers.')),
                gtsa_mm_version=__version__)
    return dict(state_dict=state_dict, meta=meta)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tools/extract_backbone.py``.

    Args:
        argv (Sequence[str], optional): Arguments without the program name.

    Returns:
        int: Exit status.
    """
    args = parse_args(argv)
    try:
        result = extract_backbone(args.checkpoint, args.teacher, args.format)
    except BackboneCheckpointError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    out = args.out or default_out_path(args.checkpoint, args.teacher, args.format)
    os.makedirs(osp.dirname(out) or '.', exist_ok=True)
    torch.save(result, out)
    num = len(result['state_dict'] if args.format == 'mmpretrain' else result)
    print(f"saved {num} tensors of the {'teacher' if args.teacher else 'student'} backbone "
          f'({args.format} layout) to {out}')
    return 0
