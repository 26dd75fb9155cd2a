"""Reading a GTSA backbone out of a checkpoint, with key checks that fail loudly.

A GTSA Runner checkpoint (``work_dirs/<run>/epoch_100.pth``) holds the whole
pretraining algorithm. Its ``state_dict`` names the student ViT ``backbone.*`` and
the EMA teacher ViT ``target_net.module.0.*`` (``target_net`` is the
``CosineEMA`` wrapper, ``module.0`` the backbone inside its
``nn.Sequential(backbone, neck)``). Downstream models want only one of the two,
without its prefix.

mmengine's ``Pretrained`` initialiser loads with ``strict=False`` and only logs the
keys it could not find, so a wrong file or prefix trains silently from random
initialisation. The functions here raise :class:`BackboneCheckpointError`
instead, naming the file, the prefix, the missing keys and the key groups the
file does have.
"""
from __future__ import annotations

import math
import os.path as osp
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase

import torch
from torch import nn

__all__ = [
    'STUDENT_PREFIX', 'TEACHER_PREFIX', 'BackboneCheckpointError', 'architecture_mismatch',
    'backbone_prefix', 'describe_key_groups', 'match_backbone_state_dict', 'read_checkpoint',
    'read_state_dict', 'strip_prefix'
]

STUDENT_PREFIX = 'backbone.'
TEACHER_PREFIX = 'target_net.module.0.'

#: How many key names an error message lists before it shortens the list.
_MAX_LISTED_KEYS = 12


class BackboneCheckpointError(RuntimeError):
    """A checkpoint does not hold the backbone weights a model asked for."""


def backbone_prefix(prefix: str | None = None, use_teacher: bool = False) -> str:
    """The state-dict prefix of the GTSA backbone to load.

    Args:
        prefix (str, optional): An explicit prefix. ``''`` loads a file whose keys
            are the backbone's own (for example one written by
            ``tools/extract_backbone.py``). Defaults to None, meaning the GTSA
            student (``'backbone.'``) or, with ``use_teacher``, the teacher.
        use_teacher (bool): Take the EMA teacher's backbone
            (``'target_net.module.0.'``) instead of the student's. Cannot be
            combined with an explicit ``prefix``. Defaults to False.

    Returns:
        str: The prefix, ending with ``'.'`` unless it is empty.
    """
    if prefix is not None and use_teacher:
        raise ValueError(
            f'Give either prefix={prefix!r} or use_teacher=True, not both: '
            f'use_teacher=True means prefix={TEACHER_PREFIX!r}.')
    if prefix is None:
        return TEACHER_PREFIX if use_teacher else STUDENT_PREFIX
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    return prefix


def read_checkpoint(filename: str, map_location: str = 'cpu') -> object:
    """Load a checkpoint file safely: ``torch.load(weights_only=True)``, never a full unpickle.

    Allowed besides tensors and containers: the types of MMEngine Runner checkpoints
    and ``argparse.Namespace`` (the ``args`` of the GTSA authors' and of DINO's
    checkpoints); see :func:`gtsa_mm.checkpoint.load_checkpoint_weights_only`.

    Args:
        filename (str): Local path or URI (``https://``, ``s3://``...).
        map_location (str): Passed to ``torch.load``. Defaults to ``'cpu'``.

    Returns:
        object: What the file holds.

    Raises:
        BackboneCheckpointError: The file does not exist, holds a pickled object
            that weights-only loading refuses (the message names it), or is no PyTorch
            checkpoint: truncated, or another file such as an HTML page saved by a
            download link (the message says which).
    """
    from gtsa_mm.checkpoint import (
        NotACheckpointError,
        UnsafeCheckpointError,
        load_checkpoint_weights_only,
    )

    if '://' not in filename and not osp.isfile(filename):
        raise BackboneCheckpointError(f'Pretrained checkpoint {filename!r} does not exist.')
    try:
        return load_checkpoint_weights_only(filename, map_location)
    except (UnsafeCheckpointError, NotACheckpointError) as error:
        raise BackboneCheckpointError(str(error)) from None


def read_state_dict(filename: str, map_location: str = 'cpu') -> dict[str, torch.Tensor]:
    """Load a checkpoint and return its state dict.

    Accepts an MMEngine Runner checkpoint (``{'state_dict': ..., 'meta': ...}``),
    a file of ``tools/extract_backbone.py`` (same layout) and a bare state dict.
    A leading ``module.`` (left by DDP) is stripped, as mmengine does. The file is
    read by :func:`read_checkpoint` (weights only).

    Args:
        filename (str): Local path or URI (``https://``, ``s3://``...).
        map_location (str): Passed to ``torch.load``. Defaults to ``'cpu'``.

    Returns:
        dict[str, torch.Tensor]: The state dict.
    """
    checkpoint = read_checkpoint(filename, map_location)
    if not isinstance(checkpoint, Mapping):
        raise BackboneCheckpointError(
            f'{filename!r} holds a {type(checkpoint).__name__}, not a checkpoint dict.')
    state_dict = checkpoint.get('state_dict', checkpoint)
    return OrderedDict(
        (key[len('module.'):] if key.startswith('module.') else key, value)
        for key, value in state_dict.items())


def strip_prefix(state_dict: Mapping[str, torch.Tensor],
                 prefix: str) -> OrderedDict[str, torch.Tensor]:
    """The entries of ``state_dict`` under ``prefix``, with the prefix removed.

    Args:
        state_dict (Mapping[str, torch.Tensor]): A full state dict.
        prefix (str): The prefix to keep; ``''`` keeps everything.

    Returns:
        OrderedDict[str, torch.Tensor]: The selected entries.
    """
    return OrderedDict((key[len(prefix):], value) for key, value in state_dict.items()
                       if key.startswith(prefix))


def describe_key_groups(keys: Iterable[str]) -> str:
    """Summarise where a state dict's keys live, e.g. ``'backbone.' (52 keys), ...``.

    Keys are grouped by their first name component; GTSA's teacher group is
    shown with its full prefix so the summary names the prefix to use.

    Args:
        keys (Iterable[str]): State-dict keys.

    Returns:
        str: A one-line summary.
    """
    groups: Counter[str] = Counter()
    for key in keys:
        if key.startswith(TEACHER_PREFIX):
            groups[TEACHER_PREFIX] += 1
        else:
            head, dot, _ = key.partition('.')
            groups[head + dot] += 1
    return ', '.join(f'{name!r} ({count} keys)' for name, count in groups.most_common())


def _shorten(keys: Sequence[str]) -> str:
    listed = ', '.join(keys[:_MAX_LISTED_KEYS])
    more = len(keys) - _MAX_LISTED_KEYS
    return listed + (f', ... ({more} more)' if more > 0 else '')


def fit_vit_pos_embed(pos_embed: torch.Tensor, vit: nn.Module) -> torch.Tensor:
    """Resize a checkpoint's ``pos_embed`` to an mmpretrain ``VisionTransformer``.

    Same rules as ``VisionTransformer._prepare_pos_embed``: drop the class-token
    position when the model has no class token, then interpolate the patch grid
    with :func:`mmpretrain.models.utils.resize_pos_embed` in the model's
    ``interpolate_mode``. Doing it here lets the key check compare shapes first.

    Args:
        pos_embed (torch.Tensor): The checkpoint's tensor, shape ``(1, L, C)``.
        vit (nn.Module): The target ``mmpretrain.models.VisionTransformer``.

    Returns:
        torch.Tensor: ``pos_embed`` with ``vit.pos_embed``'s shape, or unchanged
        when it cannot be fitted (the shape check then reports it).
    """
    from mmpretrain.models.utils import resize_pos_embed

    target = vit.pos_embed
    if pos_embed.shape == target.shape or pos_embed.ndim != 3 \
            or pos_embed.shape[-1] != target.shape[-1]:
        return pos_embed
    if not vit.with_cls_token and pos_embed.shape[1] == target.shape[1] + 1:
        pos_embed = pos_embed[:, 1:]
    num_patches = pos_embed.shape[1] - vit.num_extra_tokens
    side = math.isqrt(max(num_patches, 0))
    if side * side != num_patches:
        return pos_embed
    return resize_pos_embed(pos_embed, (side, side), vit.patch_resolution,
                            mode=vit.interpolate_mode, num_extra_tokens=vit.num_extra_tokens)


def architecture_mismatch(module: nn.Module, weights: Mapping[str, torch.Tensor],
                          filename: str, source: str,
                          meta: Mapping | None = None) -> BackboneCheckpointError | None:
    """The error to raise when a checkpoint's ViT is another architecture than ``module``.

    Names both architectures (depth, width, patch size and MLP width, read from the
    tensors; the checkpoint's stored config ``meta['cfg']`` when it has one) and the
    shipped downstream configs that build the checkpoint's ViT.

    Args:
        module (nn.Module): The model's backbone.
        weights (Mapping[str, torch.Tensor]): The checkpoint's backbone, mmpretrain
            ViT keys without prefix.
        filename (str): The checkpoint path, for the message.
        source (str): Where in the file the backbone was, for the message.
        meta (Mapping, optional): The checkpoint's ``meta``. Defaults to None.

    Returns:
        BackboneCheckpointError | None: None when the architectures agree or either
        is not an mmpretrain ViT.
    """
    from .vit_architecture import (
        configs_for_architecture,
        describe_stored_config,
        vit_architecture_of_module,
        vit_architecture_of_state_dict,
    )

    ours, theirs = vit_architecture_of_module(module), vit_architecture_of_state_dict(weights)
    if ours is None or theirs is None or ours == theirs:
        return None
    stored = describe_stored_config(meta)
    configs = configs_for_architecture(theirs)
    advice = ('use a downstream config built for it: ' + ', '.join(configs) if configs else
              'no shipped downstream config builds it: set model.backbone.arch=dict('
              f'embed_dims={theirs.width}, num_layers={theirs.depth}, num_heads=..., '
              f'feedforward_channels={theirs.mlp_width}) and model.backbone.patch_size='
              f'{theirs.patch_size}, and the neck and head widths to match')
    return BackboneCheckpointError(
        f'Checkpoint {filename!r} ({source}) holds {theirs}, but the config builds '
        f'{ours}: the architectures differ.\n'
        + (f'  its stored config: {stored}\n' if stored else '')
        + f'  To fine-tune this checkpoint, {advice}.\n'
        '  (use_teacher and prefix only choose between backbones of one file; they cannot '
        'make an architecture fit.)')


def match_backbone_state_dict(module: nn.Module,
                              state_dict: Mapping[str, torch.Tensor],
                              filename: str,
                              prefix: str,
                              ignore_missing: Sequence[str] = (),
                              source: str | None = None,
                              file_summary: str | None = None,
                              meta: Mapping | None = None) -> dict[str, torch.Tensor]:
    """Select ``module``'s weights from a full state dict, or raise a clear error.

    Every key of ``module.state_dict()`` must be present under ``prefix`` with the
    same shape. The one exception is the ``pos_embed`` of an mmpretrain
    ``VisionTransformer`` (anywhere in ``module``), which is resized to the
    model's patch grid. Extra checkpoint keys are allowed (a detection backbone
    with ``final_norm=False`` has no use for the final ``ln1``). A checkpoint ViT of
    another depth, width or patch size than ``module`` raises the error of
    :func:`architecture_mismatch`.

    Args:
        module (nn.Module): The module to be loaded, e.g. the backbone.
        state_dict (Mapping[str, torch.Tensor]): The checkpoint's full state dict.
        filename (str): The checkpoint path, for error messages.
        prefix (str): Where the module's weights sit in ``state_dict``.
        ignore_missing (Sequence[str]): ``fnmatch`` patterns of module keys that
            may be absent from the checkpoint (e.g. ``'ln2.*'`` for a head-side
            norm that pretraining never had). Defaults to ().
        source (str, optional): Where the weights came from (layout, role), for
            messages. Defaults to None: the prefix.
        file_summary (str, optional): What the file holds, for messages. Defaults
            to None: the key groups of ``state_dict``.
        meta (Mapping, optional): The checkpoint's ``meta``, whose stored config
            the architecture error names. Defaults to None.

    Returns:
        dict[str, torch.Tensor]: A state dict to pass to
        ``module.load_state_dict(..., strict=False)``; it holds every module key
        the checkpoint has, with ``pos_embed`` already resized.

    Raises:
        BackboneCheckpointError: Another architecture, keys missing or shapes that
            do not match.
    """
    from mmpretrain.models import VisionTransformer

    selected = strip_prefix(state_dict, prefix)
    where = source or (f'prefix {prefix!r}' if prefix else "prefix '' (no prefix)")
    mismatch = architecture_mismatch(module, selected, filename, where, meta)
    if mismatch is not None:
        raise mismatch
    for name, sub in module.named_modules():
        key = f'{name}.pos_embed' if name else 'pos_embed'
        if isinstance(sub, VisionTransformer) and key in selected:
            selected[key] = fit_vit_pos_embed(selected[key], sub)

    expected = module.state_dict()
    missing = [key for key in expected if key not in selected
               and not any(fnmatchcase(key, pattern) for pattern in ignore_missing)]
    if missing:
        found = (f'{len(selected)} keys there' if selected else 'no matching keys')
        raise BackboneCheckpointError(
            f'Checkpoint {filename!r} lacks {len(missing)} of the '
            f'{len(expected)} {type(module).__name__} weights expected under {where} '
            f'({found}).\n  missing: {_shorten(missing)}\n'
            f'  the file has: {file_summary or describe_key_groups(state_dict)}\n'
            f'  GTSA pretraining checkpoints hold the student under {STUDENT_PREFIX!r} '
            f'and the teacher under {TEACHER_PREFIX!r} (use_teacher=True); the layouts '
            'of the GTSA authors, DINO and timm are recognised without a prefix. A '
            'checkpoint of another model (a detector, a ResNet) cannot initialise this '
            'backbone.')
    mismatched = [f'{key}: checkpoint {tuple(selected[key].shape)} vs model '
                  f'{tuple(value.shape)}' for key, value in expected.items()
                  if key in selected and selected[key].shape != value.shape]
    if mismatched:
        raise BackboneCheckpointError(
            f'Checkpoint {filename!r} ({where}) has {len(mismatched)} tensors '
            f'whose shapes differ from the {type(module).__name__} built by the config; '
            f'the architectures differ (arch, patch_size?).\n  {_shorten(mismatched)}')
    return {key: value for key, value in selected.items() if key in expected}
