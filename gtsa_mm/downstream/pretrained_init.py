"""``init_cfg=dict(type='GTSAPretrained', ...)``: load a GTSA backbone, or stop.

Usage in an MMDetection, MMSegmentation or MMPretrain config::

    model = dict(backbone=dict(
        type='mmpretrain.VisionTransformer', arch='deit-small', ...,
        init_cfg=dict(type='GTSAPretrained', checkpoint=None)))

and on the command line
``--cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<run>/epoch_100.pth``.

The checkpoint may be of any layout :mod:`gtsa_mm.downstream.foreign_layouts` knows:
this package's Runner checkpoints and ``tools/extract_backbone.py`` files, the GTSA
authors' pretraining checkpoints, DINO's full checkpoints, and single ViTs in DINO's /
timm's key layout. No conversion step is needed.
"""
from __future__ import annotations

from collections.abc import Sequence

from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn

from .backbone_checkpoint import (
    BackboneCheckpointError,
    backbone_prefix,
    match_backbone_state_dict,
    read_checkpoint,
)
from .foreign_layouts import BackboneWeights, describe_checkpoint, select_backbone

__all__ = ['GTSAPretrainedInit']


@WEIGHT_INITIALIZERS.register_module(name='GTSAPretrained')
class GTSAPretrainedInit:
    """Initialise a module from a pretraining checkpoint with strict key checking.

    The file's layout is recognised from its keys (this package's Runner checkpoints
    and extracted backbones, the GTSA authors' and DINO's checkpoints, timm / DINO
    ViT weights) and named in the log line, e.g. ``GTSAPretrained: loaded 150
    tensors of VisionTransformer from FILE (layout: authors' GTSA, teacher)``; a file
    of no known layout raises :class:`BackboneCheckpointError` naming its key groups
    and the layouts known. Files are read with ``torch.load(weights_only=True)``.

    Unlike mmengine's ``Pretrained`` (``strict=False``: missing keys are only
    logged), this raises :class:`BackboneCheckpointError` naming the file, the
    prefix and the missing keys when the checkpoint does not hold every weight of
    the module, so a wrong file or prefix cannot fall back to random init.
    The ViT's ``pos_embed`` is resized to the model's ``img_size``.

    It is registered in MMEngine's root ``WEIGHT_INITIALIZERS``, so MMDetection,
    MMSegmentation and MMPretrain configs all find it by name.

    Two details of MMEngine's initialisation order are handled here:
    ``BaseModule.init_weights`` runs every initialiser whose type is not exactly
    ``'Pretrained'`` *before* the children's own ``init_weights`` (mmpretrain's
    ``TransformerEncoderLayer`` re-draws its FFN weights there), and mmpretrain's
    ``VisionTransformer.init_weights`` re-draws ``pos_embed`` afterwards unless its
    ``init_cfg`` type is ``'Pretrained'``. So after loading, every sub-module is
    marked initialised and the module's ``init_cfg`` is replaced by the record
    ``dict(type='Pretrained', checkpoint=FILE, layout=..., role=..., location=...)``
    of what was loaded, e.g. ``layout='gtsa_mm', role='student',
    location="state_dict['backbone.*']"``. It is never run (it is set after MMEngine
    has sorted the initialisers), and MMEngine's ``Pretrained`` takes no ``layout``,
    ``role`` or ``location``: were it run, it would raise instead of loading the whole
    file with ``strict=False``.

    Args:
        checkpoint (str, optional): The pretraining checkpoint, of any layout of
            :data:`~gtsa_mm.downstream.foreign_layouts.LAYOUTS`
            (``work_dirs/<run>/epoch_N.pth``, a file of ``tools/extract_backbone.py``,
            the GTSA authors' ``checkpoint-99.pth``, DINO's
            ``dino_deitsmall16_pretrain.pth``...). None raises an error that says how
            to set it; to train from random initialisation on purpose, set the
            module's ``init_cfg=None`` instead.
        prefix (str, optional): Skip layout recognition: the module's weights sit
            under this prefix of the checkpoint's state dict (timm-style keys are
            renamed). Defaults to None: recognised from the keys.
        use_teacher (bool): Load the teacher's backbone (this package's EMA teacher,
            the authors' ``momentum_encoder``, DINO's ``teacher``) instead of the
            student's. A file of a single backbone must then be a teacher's.
            Defaults to False.
        map_location (str): ``torch.load`` map location. Defaults to ``'cpu'``.
        ignore_missing (Sequence[str]): ``fnmatch`` patterns of module keys allowed
            to be absent from the checkpoint, e.g. ``('ln2.*',)`` for the norm an
            ``out_type='avg_featmap'`` ViT adds. Defaults to ().
    """

    def __init__(self,
                 checkpoint: str | None = None,
                 prefix: str | None = None,
                 use_teacher: bool = False,
                 map_location: str = 'cpu',
                 ignore_missing: Sequence[str] = ()) -> None:
        self.checkpoint = checkpoint
        backbone_prefix(prefix, use_teacher)  # rejects giving both
        self.prefix = None if prefix is None else backbone_prefix(prefix)
        self.use_teacher = use_teacher
        self.source = ''
        self.map_location = map_location
        self.ignore_missing = tuple(ignore_missing)

    def __call__(self, module: nn.Module) -> None:
        """Load the checkpoint's backbone weights into ``module``.

        Args:
            module (nn.Module): The module whose ``init_cfg`` names this
                initialiser (usually the backbone).
        """
        if self.checkpoint is None:
            raise BackboneCheckpointError(
                f'No GTSA checkpoint given for {type(module).__name__}: '
                "init_cfg=dict(type='GTSAPretrained', checkpoint=None). Pass it with "
                '--cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<run>/'
                'epoch_100.pth, or set model.backbone.init_cfg=None to train from '
                'random initialisation on purpose.')
        checkpoint = read_checkpoint(self.checkpoint, self.map_location)
        backbone = select_backbone(checkpoint, self.checkpoint, self.use_teacher, self.prefix)
        self.source = backbone.describe()
        weights = match_backbone_state_dict(
            module, backbone.state_dict, self.checkpoint, '', self.ignore_missing,
            source=backbone.where(), file_summary=describe_checkpoint(checkpoint),
            meta=backbone.meta)
        module.load_state_dict(weights, strict=False)
        unused = sorted(set(backbone.state_dict) - set(weights)) + backbone.left_out
        print_log(
            f'GTSAPretrained: loaded {len(weights)} tensors of {type(module).__name__} from '
            f'{self.checkpoint} (layout: {self.source})'
            + (f'; unused checkpoint keys: {unused}' if unused else ''),
            logger='current')
        self._keep_loaded_weights(module, backbone)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _keep_loaded_weights(self, module: nn.Module, backbone: BackboneWeights) -> None:
        """Stop the rest of ``init_weights`` from overwriting what was loaded."""
        for sub in module.modules():
            if sub is not module and isinstance(sub, BaseModule):
                sub._is_init = True
        if isinstance(module, BaseModule):
            # type 'Pretrained': mmpretrain's VisionTransformer.init_weights then keeps pos_embed
            module.init_cfg = dict(type='Pretrained', checkpoint=self.checkpoint,
                                   layout=backbone.layout.name, role=backbone.role,
                                   location=backbone.location)

    def _get_init_info(self) -> str:
        return f'{type(self).__name__}: loaded from {self.checkpoint} (layout: {self.source})'

