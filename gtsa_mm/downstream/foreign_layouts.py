"""Which codebase wrote a checkpoint, and where its student and teacher ViTs are.

The layouts, recognised from the keys (:data:`LAYOUTS`):

``gtsa_mm``
    Runner checkpoints of this package's GTSA or DINO pretraining:
    ``{'state_dict': {'backbone.*' (student), 'target_net.module.0.*' (teacher),
    ...}, 'meta': ...}``; also any bare state dict with ``backbone.*`` keys.
``authors_gtsa``
    The GTSA authors' pretraining checkpoint (bok3948/GTSA ``util/misc.py``
    ``save_model``): ``{'model', 'optimizer', 'epoch', 'scaler', 'args'}``, whose
    ``model`` holds ``base_encoder.*`` (student ViT), ``momentum_encoder.*`` (teacher),
    ``base_projector.*``, ``base_predictor.*``, ``momentum_projector.*`` and
    ``rot_predictor.*``. The ViTs use DINO's (= timm's) key names.
``dino``
    A full DINO checkpoint (facebookresearch/dino ``main_dino.py``):
    ``{'student': {'module.backbone.*', 'module.head.*'}, 'teacher': {'backbone.*',
    'head.*'}, 'optimizer', 'epoch', 'args', 'dino_loss'}``.
``mmpretrain_vit``
    One mmpretrain ``VisionTransformer`` (``tools/extract_backbone.py``:
    ``{'state_dict': ..., 'meta': {'role': ...}}``, or bare).
``timm_vit``
    One ViT in timm's key layout (``patch_embed.proj``, ``blocks.N.norm1``,
    ``blocks.N.attn.qkv``, ``blocks.N.mlp.fc1``, ``norm``): DINO's released
    backbones (``dino_deitsmall16_pretrain.pth``), the GTSA authors' extracted
    backbones, timm's ``vit_small_patch16_224`` weights; bare or under ``model`` /
    ``state_dict``. timm's classifier (``head.*``) is left out.

Every backbone comes out in mmpretrain ``VisionTransformer`` keys.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from .backbone_checkpoint import (
    STUDENT_PREFIX,
    TEACHER_PREFIX,
    BackboneCheckpointError,
    describe_key_groups,
    strip_prefix,
)
from .timm_keys import timm_vit_to_mmpretrain

__all__ = [
    'LAYOUTS', 'BackboneWeights', 'CheckpointLayout', 'describe_checkpoint', 'flat_state_dict',
    'recognise_layout', 'select_backbone'
]


@dataclass(frozen=True)
class CheckpointLayout:
    """A codebase's checkpoint layout.

    Args:
        name (str): Short identifier (``'authors_gtsa'``).
        title (str): What the log line calls it (``"authors' GTSA"``).
        signature (str): The keys that identify it, for error messages.
        container (str | None): The entry holding the state dict(s); None for the
            file itself (or ``state_dict`` / ``model`` for single backbones).
        student (str | None): Prefix of the student ViT; None for a single backbone.
        teacher (str | None): Prefix of the teacher ViT.
        timm_keys (bool): Whether the ViT keys are timm's (converted to mmpretrain's).
    """

    name: str
    title: str
    signature: str
    container: str | None = None
    student: str | None = None
    teacher: str | None = None
    timm_keys: bool = False

    @property
    def single(self) -> bool:
        """Whether the layout holds one backbone of no stated role."""
        return self.student is None


GTSA_MM = CheckpointLayout(
    'gtsa_mm', 'gtsa_mm Runner checkpoint',
    f"'state_dict' with {STUDENT_PREFIX!r} (student) and {TEACHER_PREFIX!r} (teacher)",
    container='state_dict', student=STUDENT_PREFIX, teacher=TEACHER_PREFIX)
AUTHORS_GTSA = CheckpointLayout(
    'authors_gtsa', "authors' GTSA",
    "'model' with 'base_encoder.' (student) and 'momentum_encoder.' (teacher), "
    "'base_projector.', 'base_predictor.', 'momentum_projector.', 'rot_predictor.'",
    container='model', student='base_encoder.', teacher='momentum_encoder.', timm_keys=True)
DINO = CheckpointLayout(
    'dino', 'DINO',
    "'student' with 'module.backbone.', 'teacher' with 'backbone.' (main_dino.py)",
    student='student', teacher='teacher', timm_keys=True)
MMPRETRAIN_VIT = CheckpointLayout(
    'mmpretrain_vit', 'mmpretrain ViT',
    "one mmpretrain ViT: 'patch_embed.projection.', 'layers.N.ln1.', 'layers.N.ffn.', 'ln1.' "
    '(tools/extract_backbone.py)')
TIMM_VIT = CheckpointLayout(
    'timm_vit', 'timm / DINO ViT',
    "one ViT in timm's layout: 'patch_embed.proj.', 'blocks.N.norm1.', 'blocks.N.attn.qkv.', "
    "'blocks.N.mlp.fc1.', 'norm.' (DINO's and the GTSA authors' backbones, timm weights)",
    timm_keys=True)
#: Every layout :func:`recognise_layout` knows, in the order it tries them.
LAYOUTS: tuple[CheckpointLayout, ...] = (DINO, AUTHORS_GTSA, GTSA_MM, MMPRETRAIN_VIT, TIMM_VIT)


@dataclass
class BackboneWeights:
    """One ViT of a checkpoint, in mmpretrain ``VisionTransformer`` keys.

    Args:
        state_dict (OrderedDict[str, torch.Tensor]): The backbone's tensors.
        layout (CheckpointLayout): The file's layout.
        role (str | None): ``'student'``, ``'teacher'`` or None (not stated).
        location (str): Where in the file the tensors were, e.g.
            ``"model['momentum_encoder.*']"``.
        left_out (list[str]): Keys of that backbone with no mmpretrain ViT
            counterpart (timm's classifier ``head``), not loaded.
        meta (Mapping | None): The file's ``meta`` (Runner checkpoints), if any.
    """

    state_dict: OrderedDict[str, torch.Tensor]
    layout: CheckpointLayout
    role: str | None
    location: str
    left_out: list[str] = field(default_factory=list)
    meta: Mapping | None = None

    def describe(self) -> str:
        """``"authors' GTSA, teacher"``: the layout and the role, for log lines."""
        return self.layout.title + (f', {self.role}' if self.role else '')

    def where(self) -> str:
        """``"model['momentum_encoder.*'] (authors' GTSA, teacher)"``, for messages."""
        if self.layout.name == 'prefix':
            return self.location
        return f'{self.location} ({self.describe()})'


def _strip_module(state_dict: Mapping) -> OrderedDict:
    return OrderedDict((key[len('module.'):] if key.startswith('module.') else key, value)
                       for key, value in state_dict.items())


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and any(isinstance(v, torch.Tensor) for v in obj.values())


def flat_state_dict(checkpoint: Mapping) -> OrderedDict[str, torch.Tensor]:
    """The checkpoint's state dict: ``state_dict``, else ``model``, else the file itself.

    A leading ``module.`` (left by DDP) is stripped from every key.

    Args:
        checkpoint (Mapping): What ``torch.load`` returned.

    Returns:
        OrderedDict[str, torch.Tensor]: The state dict.
    """
    for name in ('state_dict', 'model'):
        if _is_state_dict(checkpoint.get(name)):
            return _strip_module(checkpoint[name])
    return _strip_module(checkpoint)


def _has_prefix(state_dict: Mapping, prefix: str) -> bool:
    return any(key.startswith(prefix) for key in state_dict)


def recognise_layout(checkpoint: object) -> CheckpointLayout | None:
    """The layout of a loaded checkpoint, from its keys.

    Args:
        checkpoint (object): What ``torch.load`` returned.

    Returns:
        CheckpointLayout | None: None when no known layout fits.
    """
    if not isinstance(checkpoint, Mapping):
        return None
    if all(_is_state_dict(checkpoint.get(name)) for name in ('student', 'teacher')):
        return DINO
    flat = flat_state_dict(checkpoint)
    if _has_prefix(flat, AUTHORS_GTSA.student):
        return AUTHORS_GTSA
    if _has_prefix(flat, GTSA_MM.student):
        return GTSA_MM
    if 'patch_embed.projection.weight' in flat:
        return MMPRETRAIN_VIT
    if 'patch_embed.proj.weight' in flat and _has_prefix(flat, 'blocks.'):
        return TIMM_VIT
    return None


def describe_checkpoint(checkpoint: object) -> str:
    """Its top-level entries and key groups, e.g. for an unknown layout's error.

    Args:
        checkpoint (object): What ``torch.load`` returned.

    Returns:
        str: A one-line summary.
    """
    if not isinstance(checkpoint, Mapping):
        return f'a {type(checkpoint).__name__}, not a dict'
    nested = [name for name, value in checkpoint.items() if isinstance(value, Mapping)]
    parts = [f'top-level entries {list(checkpoint)[:12]}']
    for name in nested:
        if _is_state_dict(checkpoint[name]):
            parts.append(f'{name!r}: {describe_key_groups(_strip_module(checkpoint[name]))}')
    if _is_state_dict(checkpoint):
        parts.append(f'keys: {describe_key_groups(_strip_module(checkpoint))}')
    return '; '.join(parts)


def _unknown_layout(filename: str, checkpoint: object) -> BackboneCheckpointError:
    known = '\n'.join(f'    {layout.title}: {layout.signature}' for layout in LAYOUTS)
    return BackboneCheckpointError(
        f'Checkpoint {filename!r} is of no layout GTSAPretrained knows; it has '
        f'{describe_checkpoint(checkpoint)}.\n  Known layouts:\n{known}\n  For a state dict '
        "of another layout, name where the backbone is with prefix='...'.")


def _to_mmpretrain(layout: CheckpointLayout, state_dict: OrderedDict) -> tuple[OrderedDict, list]:
    if layout.timm_keys or ('patch_embed.proj.weight' in state_dict
                            and 'patch_embed.projection.weight' not in state_dict):
        return timm_vit_to_mmpretrain(state_dict)
    return state_dict, []


def select_backbone(checkpoint: object, filename: str, use_teacher: bool = False,
                    prefix: str | None = None) -> BackboneWeights:
    """The student's (or teacher's) ViT of a checkpoint of any known layout.

    Args:
        checkpoint (object): What ``torch.load`` returned.
        filename (str): The file, for messages.
        use_teacher (bool): Take the teacher of a two-backbone layout (EMA teacher,
            ``momentum_encoder``, DINO's ``teacher``). Defaults to False.
        prefix (str, optional): Skip recognition and take the keys under this prefix
            of the file's state dict (``state_dict``, else ``model``, else the file);
            timm-style keys are converted. Defaults to None.

    Returns:
        BackboneWeights: The tensors in mmpretrain ViT keys, and where they came from.

    Raises:
        BackboneCheckpointError: Unknown layout, or ``use_teacher`` asked of a file
            holding one backbone that is not a teacher.
    """
    if not isinstance(checkpoint, Mapping):
        raise BackboneCheckpointError(
            f'{filename!r} holds a {type(checkpoint).__name__}, not a checkpoint dict.')
    meta = checkpoint.get('meta') if isinstance(checkpoint.get('meta'), Mapping) else None
    if prefix is not None:
        layout = CheckpointLayout('prefix', f'state dict, prefix {prefix!r}',
                                  'keys under an explicit prefix')
        state_dict, left_out = _to_mmpretrain(
            layout, strip_prefix(flat_state_dict(checkpoint), prefix))
        return BackboneWeights(state_dict, layout, None, f'prefix {prefix!r}', left_out, meta)
    layout = recognise_layout(checkpoint)
    if layout is None:
        raise _unknown_layout(filename, checkpoint)
    if layout.single:
        role = meta.get('role') if meta else None
        if use_teacher and role != 'teacher':
            raise BackboneCheckpointError(
                f'Checkpoint {filename!r} ({layout.title}) holds a single backbone'
                + (f' of the {role}' if role else ' of no stated role')
                + ', so use_teacher=True does not apply: set '
                'model.backbone.init_cfg.use_teacher=False to load it, or give the '
                'pretraining checkpoint (student and teacher) instead.')
        state_dict, left_out = _to_mmpretrain(layout, flat_state_dict(checkpoint))
        return BackboneWeights(state_dict, layout, role, 'the whole file', left_out, meta)
    role = 'teacher' if use_teacher else 'student'
    if layout is DINO:
        entry = checkpoint[role]
        inner = _strip_module(entry)
        source, location = strip_prefix(inner, 'backbone.'), f"{role}['backbone.*']"
    else:
        where = layout.teacher if use_teacher else layout.student
        source = strip_prefix(flat_state_dict(checkpoint), where)
        location = f"{layout.container}[{where + '*'!r}]"
    state_dict, left_out = _to_mmpretrain(layout, source)
    return BackboneWeights(state_dict, layout, role, location, left_out, meta)
