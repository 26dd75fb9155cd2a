"""Checkpoints of other codebases as this package's files (``tools/convert_checkpoint.py``).

* The GTSA authors' pretraining checkpoint (bok3948/GTSA ``checkpoint-N.pth``) becomes a
  Runner checkpoint of :class:`~gtsa_mm.models.algorithms.GTSA` built by the paper config:
  ``tools/train.py CONFIG --cfg-options load_from=DST`` continues pretraining from it,
  ``tools/evaluate_features.py DST`` probes it and ``tools/visualize_features.py DST
  IMAGE`` draws it.
* Any layout of :mod:`.foreign_layouts` (the authors', DINO's full checkpoints, timm /
  DINO ViT weights, this package's Runner checkpoints) gives one backbone in
  mmpretrain's ``VisionTransformer`` layout (``{'state_dict', 'meta'}``, as
  ``tools/extract_backbone.py`` writes) or in timm's (a bare state dict).

Module by module, the authors' GTSA and ours (``configs/_base_/models/gtsa_vit-small-p16.py``):

================================  ==================================  ========================
authors' (``model`` of the file)  ours (``state_dict``)               computation
================================  ==================================  ========================
``base_encoder`` (DINO ViT)       ``backbone`` (mmpretrain ViT)       same at the pretraining
                                                                      size; other sizes resize
                                                                      ``pos_embed`` differently
``momentum_encoder``              ``target_net.module.0``             as above
``base_projector.blocks.i.0``     ``neck.blocks.i.conv``              same (see below)
``base_projector.proj``           ``neck.proj``                       same
``momentum_projector.*``          ``target_net.module.1.*``           same
``base_predictor.blocks.0.0``     ``head.predictor.block.conv``       same
``base_predictor.proj``           ``head.predictor.proj``             same
``rot_predictor.i``               ``head.rotation_head.mlp.i``        same
(none)                            ``target_net.steps``                set to 1: see below
================================  ==================================  ========================

What differs in how the modules are written, not in what they compute at the paper's
sizes (``tests/tools/test_convert_checkpoint.py`` checks the outputs against a
restatement of the authors' modules):

* The authors' ``Projector`` takes the ViT's patch tokens ``(N, T, C)`` and reshapes them
  to a square map itself; ``GTSAProjector`` takes the backbone's map ``(N, C, H, W)``
  (``out_type='featmap'``), the same tensor. Their channel LayerNorm transposes channels
  last and back (``TransposeLast``); ours permutes: the same normalisation, eps 1e-5.
* Their residual is skipped where a block changes the width
  (``projector_dim != input_dim``); ``GTSAProjector`` keeps the width, as at the paper's
  sizes (384 -> 384). Files with another projector width are refused.
* ``rot_predictor`` reads the mean over the ViT's (normed) patch tokens;
  ``RotationHead`` the mean over the same tokens as a map. The nine ``nn.Sequential``
  indices are the same.
* The teacher: ``target_net`` is MMPretrain's ``CosineEMA``, whose ``steps`` counter
  copies the student into the teacher when it is 0. The converted file sets it to 1 so
  that continuing pretraining keeps the authors' teacher and starts the momentum
  schedule at its beginning (0.996).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import re
import sys
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch

from ..shipped_configs import configs_dir
from .backbone_checkpoint import BackboneCheckpointError, read_checkpoint
from .backbone_extraction import backbone_file, select_vit
from .foreign_layouts import AUTHORS_GTSA, flat_state_dict, recognise_layout
from .timm_keys import mmpretrain_key

__all__ = [
    'PAPER_CONFIG', 'convert_authors_gtsa', 'convert_authors_state_dict', 'convert_checkpoint',
    'main', 'parse_args'
]

#: The config whose model the authors' checkpoint is converted for (its ``meta['cfg']``),
#: relative to the shipped configs' folder (:func:`gtsa_mm.shipped_configs.configs_dir`).
PAPER_CONFIG = 'gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'
_EMA_STEPS_KEY = 'target_net.steps'

# The authors' module prefixes -> ours (the table of the module docstring).
_VIT_PREFIXES = (('base_encoder.', 'backbone.'), ('momentum_encoder.', 'target_net.module.0.'))
_P = r'(?P<p>weight|bias)'
_HEAD_RULES: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern), template) for pattern, template in (
        (rf'base_projector\.blocks\.(?P<i>\d+)\.0\.{_P}', 'neck.blocks.{i}.conv.{p}'),
        (rf'base_projector\.proj\.{_P}', 'neck.proj.{p}'),
        (rf'momentum_projector\.blocks\.(?P<i>\d+)\.0\.{_P}',
         'target_net.module.1.blocks.{i}.conv.{p}'),
        (rf'momentum_projector\.proj\.{_P}', 'target_net.module.1.proj.{p}'),
        (rf'base_predictor\.blocks\.0\.0\.{_P}', 'head.predictor.block.conv.{p}'),
        (rf'base_predictor\.proj\.{_P}', 'head.predictor.proj.{p}'),
        (rf'rot_predictor\.(?P<i>\d+)\.{_P}', 'head.rotation_head.mlp.{i}.{p}'),
    ))


def _our_key(authors_key: str) -> str | None:
    for theirs, ours in _VIT_PREFIXES:
        if authors_key.startswith(theirs):
            try:
                return ours + mmpretrain_key(authors_key[len(theirs):])
            except KeyError:
                return None
    for pattern, template in _HEAD_RULES:
        match = pattern.fullmatch(authors_key)
        if match:
            return template.format(**match.groupdict())
    return None


def convert_authors_state_dict(
        model: Mapping[str, torch.Tensor]) -> tuple[OrderedDict, dict[str, str]]:
    """The authors' GTSA state dict (their ``model``) in the keys of our ``GTSA``.

    Args:
        model (Mapping[str, torch.Tensor]): The ``model`` entry of their checkpoint
            (a leading ``module.`` is stripped).

    Returns:
        tuple: Our state dict (with ``target_net.steps`` = 1) and the key map
        ``{their key: our key}``, one entry per source tensor.

    Raises:
        BackboneCheckpointError: A key has no counterpart in our model, or the
            projector changes width (our projector keeps it).
    """
    model = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                        for k, v in model.items())
    key_map = {key: _our_key(key) for key in model}
    unknown = [key for key, ours in key_map.items() if ours is None]
    if unknown:
        raise BackboneCheckpointError(
            f'{len(unknown)} tensors of the authors\' GTSA have no counterpart in '
            f'gtsa_mm\'s GTSA: {unknown[:12]}. Only their ViT-S GTSA (one predictor block, '
            'timm-style ViT keys) converts.')
    for prefix in ('base_projector.', 'momentum_projector.'):
        first = model.get(f'{prefix}blocks.0.0.weight')
        if first is not None and first.shape[0] != first.shape[1]:
            raise BackboneCheckpointError(
                f'{prefix}blocks.0 maps {first.shape[1]} to {first.shape[0]} channels: the '
                "authors' projector then skips that block's residual, GTSAProjector keeps "
                'the width (the paper: 384 -> 384). This file does not convert.')
    state_dict = OrderedDict((key_map[key], value) for key, value in model.items())
    state_dict[_EMA_STEPS_KEY] = torch.tensor(1, dtype=torch.long)
    return state_dict, key_map


def _plain(value: object) -> object:
    """``value`` with only types ``torch.load(weights_only=True)`` rebuilds."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def convert_authors_gtsa(checkpoint: Mapping, source: str,
                         config: str | None = None) -> dict:
    """The authors' pretraining checkpoint as a Runner checkpoint of our GTSA.

    Args:
        checkpoint (Mapping): Their checkpoint as loaded (``model``, ``epoch``,
            ``args``...).
        source (str): Its path, recorded in ``meta``.
        config (str, optional): The GTSA config stored as ``meta['cfg']`` (read by
            ``tools/evaluate_features.py`` and ``tools/visualize_features.py``).
            Defaults to :data:`PAPER_CONFIG` of the shipped configs (the repository's
            ``configs/`` or an installed wheel's ``gtsa_mm/.mim/configs``).

    Returns:
        dict: ``{'meta': ..., 'state_dict': ...}`` to ``torch.save``.
    """
    from mmengine.config import Config

    from gtsa_mm import __version__

    state_dict, _ = convert_authors_state_dict(checkpoint['model'])
    config = config or str(configs_dir() / PAPER_CONFIG)
    args = checkpoint.get('args')
    meta = dict(cfg=Config.fromfile(config).pretty_text, config=osp.basename(config),
                converted_from=osp.abspath(source), source_layout=AUTHORS_GTSA.title,
                source_epoch=_plain(checkpoint.get('epoch')),
                source_args=_plain(vars(args) if isinstance(args, argparse.Namespace)
                                   else args),
                gtsa_mm_version=__version__)
    return dict(meta=meta, state_dict=state_dict)


def convert_checkpoint(source: str, backbone: bool = False, teacher: bool = False,
                       fmt: str = 'mmpretrain', config: str | None = None) -> tuple[dict, str]:
    """Convert a checkpoint of any known layout.

    Args:
        source (str): The checkpoint.
        backbone (bool): Write one backbone, not the whole GTSA (always the case
            for layouts other than the authors' GTSA). Defaults to False.
        teacher (bool): With ``backbone``: the teacher's. Defaults to False.
        fmt (str): Backbone key layout, ``'mmpretrain'`` or ``'timm'``.
        config (str, optional): GTSA config of the full conversion.

    Returns:
        tuple[dict, str]: What to save and a one-line description of it.

    Raises:
        BackboneCheckpointError: Unknown layout, unsafe pickle, no counterpart.
    """
    checkpoint = read_checkpoint(source)
    layout = recognise_layout(checkpoint)
    if layout is AUTHORS_GTSA and not backbone:
        if teacher or fmt != 'mmpretrain':
            raise BackboneCheckpointError(
                '--teacher and --format apply to --backbone; the full conversion keeps '
                'student and teacher in a GTSA Runner checkpoint.')
        result = convert_authors_gtsa(checkpoint, source, config)
        modules = sorted({key.split('.')[0] for key in result['state_dict']})
        return result, (f"authors' GTSA -> gtsa_mm GTSA Runner checkpoint: "
                        f"{len(result['state_dict'])} tensors ({', '.join(modules)}), from "
                        f"{len(flat_state_dict(checkpoint))} source tensors")
    weights = select_vit(checkpoint, source, teacher)
    result = backbone_file(weights, source, fmt)
    tensors = len(result['state_dict'] if fmt == 'mmpretrain' else result)
    return result, (f'{weights.describe()} -> {fmt} ViT backbone: {tensors} tensors'
                    + (f' (left out: {weights.left_out})' if weights.left_out else ''))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line of ``tools/convert_checkpoint.py``.

    Args:
        argv (Sequence[str], optional): Arguments without the program name.
            Defaults to None (``sys.argv[1:]``).

    Returns:
        argparse.Namespace: src, dst, backbone, teacher, format, config.
    """
    parser = argparse.ArgumentParser(
        description="Convert the GTSA authors' pretraining checkpoint into a gtsa_mm GTSA "
        'Runner checkpoint (load_from, evaluate_features, visualize_features), or one '
        "backbone of any known layout (the authors', DINO's, timm's, gtsa_mm's) into "
        "MMPretrain's or timm's ViT layout. Files are read with weights-only loading.")
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--backbone', action='store_true',
                        help='write one backbone only (the default for every layout but '
                        "the authors' GTSA)")
    parser.add_argument('--teacher', action='store_true',
                        help="with --backbone: the teacher (momentum_encoder, DINO's teacher, "
                        'the EMA teacher) instead of the student')
    parser.add_argument('--format', choices=('mmpretrain', 'timm'), default='mmpretrain',
                        help="backbone key layout: MMPretrain VisionTransformer in "
                        "{'state_dict', 'meta'} or timm VisionTransformer (bare state dict); "
                        'default: %(default)s')
    parser.add_argument('--config', help='GTSA config stored in the converted Runner '
                        f'checkpoint (default: {PAPER_CONFIG} of the shipped configs)')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tools/convert_checkpoint.py``.

    Args:
        argv (Sequence[str], optional): Arguments without the program name.

    Returns:
        int: Exit status.
    """
    args = parse_args(argv)
    import gtsa_mm  # noqa: F401  (checkpoint allowlist, registries)

    try:
        result, summary = convert_checkpoint(args.src, args.backbone, args.teacher,
                                             args.format, args.config)
    except BackboneCheckpointError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    os.makedirs(osp.dirname(args.dst) or '.', exist_ok=True)
    torch.save(result, args.dst)
    print(f'{summary}; saved to {args.dst}')
    return 0
