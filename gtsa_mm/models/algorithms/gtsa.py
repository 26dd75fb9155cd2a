"""GTSA: Geometric Transformation Sensitive Architecture."""
from __future__ import annotations

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from gtsa_mm.geometry import GTSA_GEOMETRY_KEYS
from gtsa_mm.models.utils import ForeachCosineEMA
from gtsa_mm.models.utils.compile import compile_vit_layers
from gtsa_mm.models.utils.cuda_graphs import GTSACUDAGraphs

#: The geometry the losses read (``crop_boxes`` is carried for inspection only).
GEOMETRY_FIELDS = tuple(k for k in GTSA_GEOMETRY_KEYS if k != 'crop_boxes')


def stack_geometry(data_samples: list[DataSample], device: torch.device) -> dict[str, Tensor]:
    """Batch the per-sample geometry written by ``GTSAMultiCrop``, in one copy.

    Returns ``global_region_boxes (B, G, V, 4)``, ``view_region_boxes
    (B, V, G, 4)`` and ``rotation_label (B, V)`` on ``device``. The fields are
    stacked on the samples' device (the CPU with ``MultiViewDataPreprocessor``)
    and moved as one tensor.
    """
    missing = [k for k in GEOMETRY_FIELDS if k not in data_samples[0]]
    if missing:
        raise KeyError(
            f'GTSA needs {missing} in the data samples: the training pipeline must '
            "end with dict(type='GTSAMultiCrop'), dict(type='PackInputs', "
            'algorithm_keys=GTSA_GEOMETRY_KEYS) (see configs/gtsa/).')
    stacked = [torch.stack([s.get(k) for s in data_samples]) for k in GEOMETRY_FIELDS]
    flat = torch.cat([t.flatten(1).float() for t in stacked], dim=1)
    flat = flat.to(device, non_blocking=True)
    parts = flat.split([t[0].numel() for t in stacked], dim=1)
    out = {k: p.view(t.shape) for k, p, t in zip(GEOMETRY_FIELDS, parts, stacked)}
    out['rotation_label'] = out['rotation_label'].long()
    return out


def check_views(inputs: list[Tensor], geometry: dict[str, Tensor], num_global: int) -> None:
    """Raise a ``ValueError`` naming the config options when views and model disagree."""
    num_views, geometry_globals = geometry['view_region_boxes'].shape[1:3]
    if geometry_globals != num_global:
        raise ValueError(
            f'GTSA: model.num_global={num_global}, but the batch has {geometry_globals} '
            "global views (num_global of the train pipeline's GTSAMultiCrop): set both "
            'to the same value.')
    if len(inputs) != num_views:
        raise ValueError(
            f'GTSA: the batch has {len(inputs)} view tensors but its geometry describes '
            f'{num_views} views (GTSAMultiCrop num_global + num_local); the pipeline '
            'between GTSAMultiCrop and PackInputs must keep every view.')
    sizes = [tuple(v.shape[-2:]) for v in inputs]
    if len(set(sizes[:num_global])) > 1 or len(set(sizes[num_global:])) > 1:
        raise ValueError(
            f'GTSA: view sizes {sizes}: the first model.num_global={num_global} views must '
            'share one size (GTSAMultiCrop global_size) and the rest another (local_size).')


def backbone_patch_size(backbone: nn.Module, patch_size: int | None) -> int:
    """The backbone's patch size, checked against an explicit ``model.patch_size``."""
    projection = getattr(getattr(backbone, 'patch_embed', None), 'projection', None)
    stride = getattr(projection, 'stride', None)
    own = stride[0] if stride is not None and len(set(stride)) == 1 else None
    if own is None and patch_size is None:
        raise ValueError(f'GTSA: cannot read the patch size of {type(backbone).__name__} '
                         '(no square patch_embed.projection stride); set model.patch_size.')
    if own is not None and patch_size is not None and patch_size != own:
        raise ValueError(f'GTSA: model.patch_size={patch_size} disagrees with the backbone '
                         f'(model.backbone.patch_size={own}); drop model.patch_size, it is '
                         'read from the backbone.')
    return own if own is not None else patch_size


@MODELS.register_module()
class GTSA(BaseSelfSupervisor):
    """GTSA self-supervised pretraining.

    Implementation of `Self-Supervised Learning from Non-Object Centric Images
    with a Geometric Transformation Sensitive Architecture
    <https://arxiv.org/abs/2304.08014>`_.

    The student (backbone -> projector -> predictor) sees all views; the teacher
    (EMA of backbone -> projector) sees the global views; the rotation head reads
    the student backbone's maps. :class:`~gtsa_mm.models.heads.GTSAHead`, built
    from the loss options below, computes and weights the three terms over all
    (teacher global view, other view) pairs: region (shared regions, the
    teacher's turned to the student's orientation), patch correspondence (off
    during warm-up) and rotation prediction.

    Args:
        backbone (dict): Student backbone, a ``VisionTransformer`` with
            ``out_type='featmap'`` (patch tokens as a map).
        neck (dict): Projector (``GTSAProjector``), shared by the EMA teacher.
        predictor (dict): Student predictor (``GTSAPredictor``).
        rotation_head (dict, optional): ``RotationHead``; None disables the
            rotation loss (ablation). Its ``loss_weight`` is the rotation term's
            weight (default 0.5).
        region_loss (dict): ``RegionLoss`` config; its ``loss_weight`` is the
            region term's weight (default 1.0).
        patch_loss (dict, optional): ``PatchCorrespondenceLoss`` config, its
            ``loss_weight`` the patch term's weight after warm-up (default 0.5);
            None disables the patch loss (ablation).
        num_global (int): Global (teacher) views; the inputs list starts with
            them. Must equal the pipeline's ``GTSAMultiCrop`` ``num_global``
            (checked on every batch). Defaults to 2.
        patch_size (int, optional): Input pixels per map cell. Defaults to None:
            read from the backbone (an explicit value must agree with it).
        region_sizes (tuple[int, int]): RoI output side for student views of
            global / local size. Defaults to (10, 4).
        target (str): ``'region'`` (GTSA) or ``'global'``: match spatially
            pooled maps instead of shared regions (ablation).
        base_momentum (float): ``1 - teacher momentum`` at the start (MMPretrain
            convention). Defaults to 0.004 (teacher momentum 0.996).
        end_momentum (float): Same at the end of training. Defaults to 0 (1.0).
        patch_loss_warmup_epochs (int): Number of epochs, from the first, with
            patch-loss weight 0: the weight is 0 while the 0-based epoch
            (MessageHub ``epoch``, as MMEngine's loops count it) is
            ``< patch_loss_warmup_epochs``. The authors switch the loss on when
            ``warmup_epochs < epoch`` (0-based epochs; ``warmup_epochs`` = 10, the
            lr warm-up), i.e. epochs 0..10 have weight 0 and the loss starts at
            epoch 11: that is ``patch_loss_warmup_epochs = warmup_epochs + 1``.
            Defaults to 11 (the paper's recipe).
        patch_loss_warmup_iters (int, optional): Iterations with weight 0, for
            iteration-based loops: the weight is 0 while the 0-based MessageHub
            ``iter`` is ``< patch_loss_warmup_iters``; overrides the epochs when
            set. ``(warmup_epochs + 1) * iters_per_epoch`` gives the authors'
            boundary.
        cuda_graphs (bool): Capture the student and teacher network passes in
            CUDA graphs on the first CUDA training step and replay them after
            (single GPU, fixed batch shapes; see
            :mod:`gtsa_mm.models.utils.cuda_graphs`). Defaults to False.
        compile_layers (bool | dict): ``torch.compile`` each transformer layer of
            the student's and the teacher's ViT (regional compilation: one graph
            per crop size shared by all layers; the state dict is unchanged; see
            :mod:`gtsa_mm.models.utils.compile`). A dict is passed to
            ``torch.compile`` (e.g. ``dict(mode='max-autotune-no-cudagraphs')``).
            Combines with ``cuda_graphs``. Defaults to False.
        pretrained (str, optional): Checkpoint to load.
        data_preprocessor (dict, optional): Defaults to
            ``MultiViewDataPreprocessor``.
        init_cfg (dict | list, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 predictor: dict,
                 rotation_head: dict | None = dict(type='RotationHead'),
                 region_loss: dict = dict(type='RegionLoss', loss_weight=1.0),
                 patch_loss: dict | None = dict(type='PatchCorrespondenceLoss',
                                                loss_weight=0.5),
                 num_global: int = 2,
                 patch_size: int | None = None,
                 region_sizes: tuple[int, int] = (10, 4),
                 target: str = 'region',
                 base_momentum: float = 0.004,
                 end_momentum: float = 0.,
                 patch_loss_warmup_epochs: int = 11,
                 patch_loss_warmup_iters: int | None = None,
                 cuda_graphs: bool = False,
                 compile_layers: bool | dict = False,
                 pretrained: str | None = None,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | list | None = None) -> None:
        data_preprocessor = data_preprocessor or dict(type='MultiViewDataPreprocessor')
        super().__init__(backbone=backbone, neck=neck, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.predictor = MODELS.build(predictor)
        loss_weights = {}
        self.rotation_head = None
        if rotation_head:
            rotation_head = dict(rotation_head)
            if 'loss_weight' in rotation_head:
                loss_weights['loss_rotation'] = rotation_head.pop('loss_weight')
            self.rotation_head = MODELS.build(rotation_head)
        self.head = MODELS.build(dict(
            type='GTSAHead', num_global=num_global,
            patch_size=backbone_patch_size(self.backbone, patch_size),
            region_sizes=region_sizes, region_loss=region_loss, patch_loss=patch_loss,
            loss_weights=loss_weights, target=target,
            patch_loss_warmup_epochs=patch_loss_warmup_epochs,
            patch_loss_warmup_iters=patch_loss_warmup_iters))
        self.target_net = ForeachCosineEMA(
            nn.Sequential(self.backbone, self.neck), momentum=base_momentum,
            end_momentum=end_momentum)
        if compile_layers:
            kwargs = compile_layers if isinstance(compile_layers, dict) else {}
            for vit in (self.backbone, self.target_net.module[0]):
                compile_vit_layers(vit, **kwargs)
        # a plain attribute (not a submodule): nothing is added to the state dict
        self._cuda_graphs = (GTSACUDAGraphs(self.backbone, self.neck, self.predictor,
                                            self.target_net) if cuda_graphs else None)

    @property
    def num_global(self) -> int:
        return self.head.num_global

    @property
    def patch_size(self) -> int:
        return self.head.patch_size

    @property
    def region_sizes(self) -> tuple[int, int]:
        return self.head.region_sizes

    def train(self, mode: bool = True) -> GTSA:
        """Keep the teacher deterministic (no drop path) while the student trains."""
        super().train(mode)
        self.target_net.eval()
        return self

    # ------------------------------------------------------------------ forward
    def _use_graphs(self, views: Tensor) -> bool:
        return (self._cuda_graphs is not None and views.is_cuda and self.training
                and torch.is_grad_enabled())

    def student_passes(self, global_views: Tensor, local_views: Tensor | None):
        """``(feat_global, pred_global, feat_local, pred_local)`` of the student.

        Feature maps are the backbone's last output, predictions the predictor's
        output on the projected maps; the local pair is None without local views.
        """
        if self._use_graphs(global_views):
            replayed = self._cuda_graphs.student_passes(global_views, local_views)
            if replayed is not None:
                return replayed
        feat_global = self.backbone(global_views)[-1]
        pred_global = self.predictor(self.neck(feat_global))[0]
        feat_local = pred_local = None
        if local_views is not None:
            feat_local = self.backbone(local_views)[-1]
            pred_local = self.predictor(self.neck(feat_local))[0]
        return feat_global, pred_global, feat_local, pred_local

    def teacher_pass(self, global_views: Tensor) -> Tensor:
        """The EMA teacher's projected maps of the global views (no grad)."""
        if self._use_graphs(global_views):
            replayed = self._cuda_graphs.teacher_pass(global_views)
            if replayed is not None:
                return replayed
        with torch.no_grad():
            return self.target_net(global_views)[0]

    def loss(self, inputs: list[Tensor], data_samples: list[DataSample],
             **kwargs) -> dict[str, Tensor]:
        """Losses of one batch.

        Args:
            inputs (list[Tensor]): ``V`` view batches ``(B, 3, h, w)``; global
                views first, all global views of one size, all local views of
                one size.
            data_samples (list[DataSample]): Carry the ``GTSAMultiCrop`` geometry.

        Returns:
            dict: ``loss_region``, ``loss_patch`` (0 during warm-up),
            ``loss_rotation``, and the unweighted ``patch_similarity``.
        """
        geometry = stack_geometry(data_samples, inputs[0].device)
        check_views(inputs, geometry, self.num_global)
        g = self.num_global
        global_views = torch.cat(inputs[:g])
        local_views = torch.cat(inputs[g:]) if len(inputs) > g else None
        feat_global, pred_global, feat_local, pred_local = self.student_passes(
            global_views, local_views)
        with torch.no_grad():
            self.target_net.update_parameters(nn.Sequential(self.backbone, self.neck))
        teacher = self.teacher_pass(global_views)

        rotation_logits = None
        if self.rotation_head is not None:
            maps = [feat_global] + ([feat_local] if feat_local is not None else [])
            rotation_logits = torch.cat([self.rotation_head(m) for m in maps])
        return self.head.loss(teacher, pred_global, pred_local, rotation_logits, geometry)
