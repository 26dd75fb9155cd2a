"""The student or teacher ViT of a pretraining checkpoint as a weight file of its own
(``tools/extract_backbone.py``): MMPretrain's ``VisionTransformer`` keys or timm's.

The checkpoint is a GTSA Runner checkpoint or any other layout of
:mod:`.foreign_layouts` (the GTSA authors', DINO's). The MMPretrain file is
``{'state_dict': <VisionTransformer keys>, 'meta': {'role': ..., ...}}``: use it with
``init_cfg=dict(type='GTSAPretrained', checkpoint=FILE)`` or MMEngine's
``init_cfg=dict(type='Pretrained', checkpoint=FILE)``. The timm file is a bare state
dict for ``timm.create_model('vit_small_patch16_224', num_classes=0)``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict
from collections.abc import Sequence

import torch

from .backbone_checkpoint import BackboneCheckpointError, read_checkpoint
from .foreign_layouts import BackboneWeights, describe_checkpoint, select_backbone
from .timm_keys import mmpretrain_vit_to_timm

__all__ = [
    'backbone_file', 'default_out_path', 'extract_backbone', 'main', 'parse_args', 'select_vit'
]

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
        "pretraining checkpoint (or of the GTSA authors', DINO's checkpoints) into an "
        'MMPretrain or timm weight file.')
    parser.add_argument('checkpoint', help='GTSA Runner checkpoint (work_dirs/.../epoch_N.pth) '
                        'or another layout GTSAPretrained reads')
    parser.add_argument('--teacher', action='store_true',
                        help='take the teacher (EMA teacher target_net.module.0.*, the '
                        "authors' momentum_encoder, DINO's teacher) instead of the student")
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


def backbone_file(weights: BackboneWeights, source: str, fmt: str = 'mmpretrain') -> dict:
    """One backbone as a weight file of its own.

    Args:
        weights (BackboneWeights): The backbone (mmpretrain ViT keys).
        source (str): The file it came from, recorded in ``meta``.
        fmt (str): ``'mmpretrain'`` (``{'state_dict', 'meta'}``, for
            ``init_cfg=dict(type='GTSAPretrained', checkpoint=FILE)`` or MMEngine's
            ``Pretrained``) or ``'timm'`` (a bare state dict for timm's
            ``VisionTransformer``). Defaults to ``'mmpretrain'``.

    Returns:
        dict: What to ``torch.save``.
    """
    from gtsa_mm import __version__

    state_dict = OrderedDict((k, v.detach().clone()) for k, v in weights.state_dict.items())
    if fmt == 'timm':
        return mmpretrain_vit_to_timm(state_dict)
    if fmt != 'mmpretrain':
        raise ValueError(f"format must be 'mmpretrain' or 'timm', got {fmt!r}")
    layers = [int(key.split('.')[1]) for key in state_dict if key.startswith('layers.')]
    meta = dict(source=osp.abspath(source), source_layout=weights.layout.title,
                location=weights.location, role=weights.role, format='mmpretrain',
                embed_dims=int(state_dict['pos_embed'].shape[-1])
                if 'pos_embed' in state_dict else None,
                num_layers=max(layers) + 1 if layers else 0, gtsa_mm_version=__version__)
    return dict(state_dict=state_dict, meta=meta)


def select_vit(checkpoint: object, filename: str, teacher: bool = False) -> BackboneWeights:
    """The student's (or teacher's) ViT of a loaded checkpoint, checked to be a ViT.

    Args:
        checkpoint (object): What :func:`~.backbone_checkpoint.read_checkpoint` returned.
        filename (str): The file, for messages.
        teacher (bool): Take the teacher. Defaults to False.

    Returns:
        BackboneWeights: The ViT in mmpretrain keys.

    Raises:
        BackboneCheckpointError: No ViT where the file's layout keeps it.
    """
    weights = select_backbone(checkpoint, filename, use_teacher=teacher)
    missing = [key for key in _REQUIRED_KEYS if key not in weights.state_dict]
    if missing:
        raise BackboneCheckpointError(
            f'{filename!r} has no ViT at {weights.where()} (missing {missing}); the file '
            f'has: {describe_checkpoint(checkpoint)}. Is it a pretraining checkpoint?')
    return weights


def extract_backbone(checkpoint: str, teacher: bool = False,
                     fmt: str = 'mmpretrain') -> dict:
    """Build the object to save for one backbone of a pretraining checkpoint.

    Args:
        checkpoint (str): A GTSA Runner checkpoint, or a checkpoint of another layout
            of :mod:`.foreign_layouts`.
        teacher (bool): Extract the teacher instead of the student.
            Defaults to False.
        fmt (str): ``'mmpretrain'`` (dict with ``state_dict`` and ``meta``) or
            ``'timm'`` (bare state dict in timm's key layout). Defaults to
            ``'mmpretrain'``.

    Returns:
        dict: What to ``torch.save``.

    Raises:
        BackboneCheckpointError: The checkpoint has no ViT where its layout keeps it.
    """
    weights = select_vit(read_checkpoint(checkpoint), checkpoint, teacher)
    return backbone_file(weights, checkpoint, fmt)


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
