"""GTSA: Geometric Transformation Sensitive Architecture."""
from __future__ import annotations

import torch
from mmengine.logging import print_log
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from gtsa_mm.geometry import GTSA_GEOMETRY_KEYS
from gtsa_mm.models.utils import ForeachCosineEMA, vit_patch_size
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


def check_views(inputs: list[Tensor], geometry: dict[str, Tensor]) -> int:
    """The number of global views; a ``ValueError`` when views and geometry disagree."""
    num_views, num_global = geometry['view_region_boxes'].shape[1:3]
    if len(inputs) != num_views:
        raise ValueError(
            f'GTSA: the batch has {len(inputs)} view tensors but its geometry describes '
            f'{num_views} views (GTSAMultiCrop num_global + num_local); the pipeline '
            'between GTSAMultiCrop and PackInputs must keep every view.')
    sizes = [tuple(v.shape[-2:]) for v in inputs]
    if len(set(sizes[:num_global])) > 1 or len(set(sizes[num_global:])) > 1:
        raise ValueError(
            f'GTSA: view sizes {sizes}: the first {num_global} views (GTSAMultiCrop '
            'num_global) must share one size (global_size) and the rest another '
            '(local_size).')
    return num_global


#: Options of ``model`` that moved into ``model.head`` (or out of the model), and where.
MOVED_OPTIONS = {
    'predictor': 'model.head.predictor',
    'rotation_head': 'model.head.rotation_head (its loss_weight: '
                     'model.head.rotation_loss.loss_weight)',
    'region_loss': 'model.head.region_loss',
    'patch_loss': 'model.head.patch_loss',
    'region_sizes': 'model.head.region_sizes',
    'target': 'model.head.target',
    'patch_loss_warmup_epochs': 'model.head.patch_loss.warmup_epochs',
    'patch_loss_warmup_iters': 'model.head.patch_loss.warmup_iters',
    'num_global': "nowhere: it is read from the batch (the train pipeline's GTSAMultiCrop "
                  'num_global)',
    'patch_size': 'nowhere: it is read from model.backbone.patch_size',
}

#: Submodules that moved into the head: old state-dict prefix -> new.
MOVED_STATE_PREFIXES = {'predictor.': 'head.predictor.', 'rotation_head.': 'head.rotation_head.'}


def map_moved_state_keys(state_dict: dict, prefix: str = '') -> list[str]:
    """Rename, in place, the keys of checkpoints written before the predictor and the
    rotation head moved into ``GTSAHead`` (``predictor.*`` -> ``head.predictor.*``,
    ``rotation_head.*`` -> ``head.rotation_head.*``); returns the old keys renamed."""
    renamed = []
    for key in list(state_dict):
        for old, new in MOVED_STATE_PREFIXES.items():
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)
                renamed.append(key)
                break
    return renamed


def _map_moved_state_keys_on_load(module, state_dict, prefix, *args) -> None:
    """``load_state_dict`` pre-hook of :class:`GTSA`: :func:`map_moved_state_keys`, and
    a log line when it renamed any."""
    renamed = map_moved_state_keys(state_dict, prefix)
    if renamed:
        print_log(f'GTSA: renamed {len(renamed)} state-dict keys of a checkpoint written '
                  'before the predictor and rotation head moved into GTSAHead '
                  f'({", ".join(f"{old}* -> {new}*" for old, new in MOVED_STATE_PREFIXES.items())}'
                  ')', logger='current')


@MODELS.register_module()
class GTSA(BaseSelfSupervisor):
    """GTSA self-supervised pretraining.

    Implementation of `Self-Supervised Learning from Non-Object Centric Images
    with a Geometric Transformation Sensitive Architecture
    <https://arxiv.org/abs/2304.08014>`_.

    Wired as MMPretrain's BYOL: the student is ``backbone -> neck`` (projector) and
    the head's predictor; the teacher is the EMA of ``backbone -> neck`` and sees the
    global views; ``head`` (:class:`~gtsa_mm.models.heads.GTSAHead`) holds the
    predictor, the rotation head and the three losses with their weights.

    Args:
        backbone (dict): Student backbone, a ``VisionTransformer`` with
            ``out_type='featmap'`` (patch tokens as a map). Its patch size is the
            head's.
        neck (dict): Projector (``GTSAProjector``), shared by the EMA teacher.
        head (dict): ``GTSAHead``: predictor, rotation head, losses and weights.
        base_momentum (float): ``1 - teacher momentum`` at the start (MMPretrain
            convention). Defaults to 0.004 (teacher momentum 0.996).
        end_momentum (float): Same at the end of training. Defaults to 0 (1.0).
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

    Checkpoints written before the predictor and the rotation head moved into the
    head load unchanged (:func:`map_moved_state_keys` renames their keys on load).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 base_momentum: float = 0.004,
                 end_momentum: float = 0.,
                 cuda_graphs: bool = False,
                 compile_layers: bool | dict = False,
                 pretrained: str | None = None,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | list | None = None,
                 **moved) -> None:
        if moved:
            unknown = sorted(set(moved) - set(MOVED_OPTIONS))
            if unknown:
                raise TypeError(f'GTSA got unexpected options {unknown}')
            lines = '\n'.join(f'  model.{k} -> {MOVED_OPTIONS[k]}' for k in sorted(moved))
            raise TypeError('GTSA: these options of the model moved; set them where they '
                            f'are now (docs/architecture.md):\n{lines}')
        data_preprocessor = data_preprocessor or dict(type='MultiViewDataPreprocessor')
        super().__init__(backbone=backbone, neck=neck, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        patch_size = vit_patch_size(self.backbone)
        if head.get('patch_size', patch_size) != patch_size:
            raise ValueError(f"GTSA: model.head.patch_size={head['patch_size']} disagrees with "
                             f'the backbone (model.backbone.patch_size={patch_size}); drop it, '
                             'the head reads the backbone\'s.')
        self.head = MODELS.build(head, default_args=dict(patch_size=patch_size))
        self.target_net = ForeachCosineEMA(
            nn.Sequential(self.backbone, self.neck), momentum=base_momentum,
            end_momentum=end_momentum)
        if compile_layers:
            kwargs = compile_layers if isinstance(compile_layers, dict) else {}
            for vit in (self.backbone, self.target_net.module[0]):
                compile_vit_layers(vit, **kwargs)
        # a plain attribute (not a submodule): nothing is added to the state dict
        self._cuda_graphs = (GTSACUDAGraphs(self.backbone, self.neck, self.head.predictor,
                                            self.target_net) if cuda_graphs else None)
        self.register_load_state_dict_pre_hook(_map_moved_state_keys_on_load)

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
        predictor = self.head.predictor
        feat_global = self.backbone(global_views)[-1]
        pred_global = predictor(self.neck(feat_global))[0]
        feat_local = pred_local = None
        if local_views is not None:
            feat_local = self.backbone(local_views)[-1]
            pred_local = predictor(self.neck(feat_local))[0]
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
        """Losses of one batch: ``V`` view batches ``(B, 3, h, w)``, the global views
        first, and the ``GTSAMultiCrop`` geometry in ``data_samples``; see
        :meth:`GTSAHead.loss <gtsa_mm.models.heads.GTSAHead.loss>` for the terms."""
        geometry = stack_geometry(data_samples, inputs[0].device)
        g = check_views(inputs, geometry)
        global_views = torch.cat(inputs[:g])
        local_views = torch.cat(inputs[g:]) if len(inputs) > g else None
        feat_global, pred_global, feat_local, pred_local = self.student_passes(
            global_views, local_views)
        with torch.no_grad():
            self.target_net.update_parameters(nn.Sequential(self.backbone, self.neck))
        teacher = self.teacher_pass(global_views)
        return self.head.loss(teacher, pred_global, pred_local, feat_global, feat_local,
                               geometry)
