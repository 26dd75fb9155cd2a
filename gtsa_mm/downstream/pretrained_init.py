"""``init_cfg=dict(type='GTSAPretrained', ...)``: load a GTSA backbone, or stop.

Usage in an MMDetection, MMSegmentation or MMPretrain config::

    model = dict(backbone=dict(
        type='mmpretrain.VisionTransformer', arch='deit-small', ...,
        init_cfg=dict(type='GTSAPretrained', checkpoint=None)))

and on the command line
``--cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<run>/epoch_100.pth``.
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
    read_state_dict,
)

__all__ = ['GTSAPretrainedInit']


@WEIGHT_INITIALIZERS.register_module(name='GTSAPretrained')
class GTSAPretrainedInit:
    """Initialise a module from a GTSA checkpoint with strict key checking.

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
    marked initialised and the module's ``init_cfg`` is replaced by the
    equivalent ``dict(type='Pretrained', checkpoint=..., prefix=...)`` record.

    Args:
        checkpoint (str, optional): The GTSA Runner checkpoint
            (``work_dirs/<run>/epoch_N.pth``) or a file of
            ``tools/extract_backbone.py`` (then ``prefix=''``). None raises an
            error that says how to set it; to train from random initialisation
            on purpose, set the module's ``init_cfg=None`` instead.
        prefix (str, optional): Where the module's weights sit in the checkpoint's
            state dict. Defaults to None: ``'backbone.'`` (the GTSA student) or,
            with ``use_teacher``, ``'target_net.module.0.'``.
        use_teacher (bool): Load the EMA teacher's backbone instead of the
            student's. Defaults to False.
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
        self.prefix = backbone_prefix(prefix, use_teacher)
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
        state_dict = read_state_dict(self.checkpoint, self.map_location)
        weights = match_backbone_state_dict(module, state_dict, self.checkpoint, self.prefix,
                                            self.ignore_missing)
        module.load_state_dict(weights, strict=False)
        unused = sorted({key[len(self.prefix):] for key in state_dict
                         if key.startswith(self.prefix)} - set(weights))
        print_log(
            f'GTSAPretrained: loaded {len(weights)} tensors of {type(module).__name__} from '
            f'{self.checkpoint} (prefix {self.prefix!r})'
            + (f'; unused checkpoint keys: {unused}' if unused else ''),
            logger='current')
        self._keep_loaded_weights(module)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _keep_loaded_weights(self, module: nn.Module) -> None:
        """Stop the rest of ``init_weights`` from overwriting what was loaded."""
        for sub in module.modules():
            if sub is not module and isinstance(sub, BaseModule):
                sub._is_init = True
        if isinstance(module, BaseModule):
            module.init_cfg = dict(type='Pretrained', checkpoint=self.checkpoint,
                                   prefix=self.prefix)

    def _get_init_info(self) -> str:
        return (f'{type(self).__name__}: loaded from {self.checkpoint} '
                f'(prefix {self.prefix!r})')
