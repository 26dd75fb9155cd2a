"""GTSA: Geometric Transformation Sensitive Architecture."""
from __future__ import annotations

import math

import torch
from mmengine.logging import MessageHub
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from gtsa_mm.models.losses import negative_cosine_similarity, token_similarity
from gtsa_mm.models.utils import ForeachCosineEMA
from gtsa_mm.models.utils.compile import compile_vit_layers
from gtsa_mm.models.utils.cuda_graphs import GTSACUDAGraphs
from gtsa_mm.models.utils.roi_align import roi_align_grouped

GEOMETRY_FIELDS = ('global_region_boxes', 'view_region_boxes', 'rotation_label')


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


@MODELS.register_module()
class GTSA(BaseSelfSupervisor):
    """GTSA self-supervised pretraining.

    Implementation of `Self-Supervised Learning from Non-Object Centric Images
    with a Geometric Transformation Sensitive Architecture
    <https://arxiv.org/abs/2304.08014>`_.

    The student (backbone -> projector -> predictor) sees all views; the teacher
    (EMA of backbone -> projector) sees the global views. For each teacher
    global view ``t`` and each other view ``s`` (``G x (V - 1)`` pairs):

    - region loss: the region both views share is RoI-aligned out of the
      teacher map (in ``t``'s frame) and the student map (in ``s``'s frame);
      the teacher's is turned by ``label_s - label_t`` quarter turns and the
      negative cosine is taken per cell;
    - patch correspondence loss: nearest-neighbour token matches between the
      full maps, the best half kept, both directions (off during warm-up);
    - rotation loss: a head predicts every view's quarter-turn label.

    All pairs of one kind (global-global, global-local) are computed in one
    batched call; there is no loop over samples or pairs.

    Args:
        backbone (dict): Student backbone, a ``VisionTransformer`` with
            ``out_type='featmap'`` (patch tokens as a map).
        neck (dict): Projector (``GTSAProjector``), shared by the EMA teacher.
        predictor (dict): Student predictor (``GTSAPredictor``).
        rotation_head (dict, optional): ``RotationHead``; None disables the
            rotation loss (ablation).
        region_loss (dict): ``RegionLoss`` config.
        patch_loss (dict, optional): ``PatchCorrespondenceLoss`` config; None
            disables the patch loss (ablation).
        num_global (int): Global (teacher) views; the inputs list starts with
            them. Defaults to 2.
        patch_size (int): Input pixels per map cell. Defaults to 16.
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
                 patch_size: int = 16,
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
        if target not in ('region', 'global'):
            raise ValueError(f"GTSA: target must be 'region' or 'global', got {target!r}")
        self.predictor = MODELS.build(predictor)
        self.rotation_head = MODELS.build(rotation_head) if rotation_head else None
        self.region_loss = MODELS.build(region_loss)
        self.patch_loss = MODELS.build(patch_loss) if patch_loss else None
        self.num_global = num_global
        self.patch_size = patch_size
        self.region_sizes = tuple(region_sizes)
        self.target = target
        self.patch_loss_warmup_epochs = patch_loss_warmup_epochs
        self.patch_loss_warmup_iters = patch_loss_warmup_iters
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

        # Global-global pairs (t, s), s != t: pair p uses the teacher's j-th
        # partner slot and the student's i-th partner slot.
        g = num_global
        others = torch.tensor([[o for o in range(g) if o != v] for v in range(g)],
                              dtype=torch.long).view(g, g - 1)
        pair_t = torch.arange(g).repeat_interleave(g - 1)
        pair_s = others.reshape(-1)
        self.register_buffer('_others', others, persistent=False)
        self.register_buffer('_pair_t', pair_t, persistent=False)
        self.register_buffer('_pair_s', pair_s, persistent=False)
        self.register_buffer('_pair_s_slot', torch.where(pair_t < pair_s, pair_t, pair_t - 1),
                             persistent=False)

    # ------------------------------------------------------------------ helpers
    def train(self, mode: bool = True) -> GTSA:
        """Keep the teacher deterministic (no drop path) while the student trains."""
        super().train(mode)
        self.target_net.eval()
        return self

    def patch_loss_weight(self) -> float:
        """Scheduled weight of the patch loss: 0 during warm-up.

        0 while the 0-based epoch is ``< patch_loss_warmup_epochs`` (or the 0-based
        iteration ``< patch_loss_warmup_iters`` when that is set), ``loss_weight``
        after; see the class docstring for the authors' boundary.
        """
        if self.patch_loss is None:
            return 0.
        hub = MessageHub.get_current_instance()
        if self.patch_loss_warmup_iters is not None:
            warm = hub.get_info('iter', 0) < self.patch_loss_warmup_iters
        else:
            warm = hub.get_info('epoch', 0) < self.patch_loss_warmup_epochs
        return 0. if warm else self.patch_loss.loss_weight

    def _align(self, maps: Tensor, boxes: Tensor, size: int) -> Tensor:
        """RoI-align ``(N, M, 4)`` boxes of input pixels on ``(N, C, h, w)`` maps."""
        bound = math.ceil(maps.shape[-1] / size) + 1
        return roi_align_grouped(maps, boxes, size, 1. / self.patch_size, max_samples=bound)

    def _region_pairs(self, teacher: Tensor, student_global: Tensor, student_local: Tensor,
                      geometry: dict[str, Tensor], batch: int):
        """RoI-aligned regions and rotation offsets of all pairs, grouped by size.

        Yields ``(student_regions, teacher_regions, offsets)`` with ``P x B``
        pairs flattened first.
        """
        g = self.num_global
        gb = geometry['global_region_boxes'].transpose(0, 1)  # (G, B, V, 4)
        vb = geometry['view_region_boxes'].transpose(0, 1)  # (V, B, G, 4)
        labels = geometry['rotation_label'].t()  # (V, B)
        if g > 1:
            size = self.region_sizes[0]
            # teacher map t, partner slot j -> view others[t, j]
            t_boxes = gb[torch.arange(g, device=gb.device)[:, None], :, self._others]
            t_boxes = t_boxes.permute(0, 2, 1, 3).reshape(g * batch, g - 1, 4)
            s_boxes = vb[torch.arange(g, device=vb.device)[:, None], :, self._others]
            s_boxes = s_boxes.permute(0, 2, 1, 3).reshape(g * batch, g - 1, 4)
            t_reg = self._align(teacher, t_boxes, size).unflatten(0, (g, batch))
            s_reg = self._align(student_global, s_boxes, size).unflatten(0, (g, batch))
            slot_t = torch.arange(g * (g - 1), device=gb.device) % (g - 1)
            t_reg = t_reg[self._pair_t, :, slot_t]  # (P, B, C, k, k)
            s_reg = s_reg[self._pair_s, :, self._pair_s_slot]
            offsets = labels[self._pair_s] - labels[self._pair_t]  # (P, B)
            yield s_reg.flatten(0, 1), t_reg.flatten(0, 1), offsets.flatten()
        if student_local is not None:
            size = self.region_sizes[1]
            num_local = labels.shape[0] - g
            t_boxes = gb[:, :, g:].reshape(g * batch, num_local, 4)
            s_boxes = vb[g:].reshape(num_local * batch, g, 4)
            t_reg = self._align(teacher, t_boxes, size).unflatten(0, (g, batch))  # (G,B,L,..)
            s_reg = self._align(student_local, s_boxes, size).unflatten(0, (num_local, batch))
            s_reg = s_reg.permute(2, 1, 0, 3, 4, 5)  # (G, B, L, C, k, k)
            offsets = labels[None, g:] - labels[:g, None]  # (G, L, B)
            yield (s_reg.flatten(0, 2), t_reg.flatten(0, 2),
                   offsets.transpose(1, 2).flatten())

    def _patch_similarities(self, teacher: Tensor, student_global: Tensor,
                            student_local: Tensor | None):
        """Token cosine similarities ``(..., Ns, Nt)`` of all pairs, grouped by student size.

        The leading dimensions enumerate the pairs (their order differs between
        the groups; the patch loss averages over them).
        """
        g = self.num_global
        t_tok = teacher.unflatten(0, (g, -1)).flatten(3).transpose(-1, -2)  # (G, B, N, C)
        if g > 1:
            s_tok = student_global.unflatten(0, (g, -1)).flatten(3).transpose(-1, -2)
            yield token_similarity(s_tok[self._pair_s], t_tok[self._pair_t])
        if student_local is not None:
            # One (L*n, G*N) product per image instead of broadcasting (L, B, n, C)
            # against (G, B, N, C), which copied the teacher tokens once per local view
            # (8 x 19M values at batch 64) and kept the copy for the backward pass.
            batch, num_t = t_tok.shape[1:3]
            s_tok = student_local.unflatten(0, (-1, batch)).flatten(3).transpose(-1, -2)
            num_local, num_s = s_tok.shape[0], s_tok.shape[2]
            similarity = token_similarity(s_tok.transpose(0, 1).flatten(1, 2),
                                          t_tok.transpose(0, 1).flatten(1, 2))
            yield similarity.view(batch, num_local, num_s, g, num_t).transpose(2, 3)  # B,L,G,n,N

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
        assert isinstance(inputs, list) and len(inputs) >= self.num_global
        g = self.num_global
        batch = inputs[0].shape[0]
        geometry = stack_geometry(data_samples, inputs[0].device)

        global_views = torch.cat(inputs[:g])
        local_views = torch.cat(inputs[g:]) if len(inputs) > g else None
        feat_global, pred_global, feat_local, pred_local = self.student_passes(
            global_views, local_views)
        with torch.no_grad():
            self.target_net.update_parameters(nn.Sequential(self.backbone, self.neck))
        teacher = self.teacher_pass(global_views)

        losses = {}
        if self.target == 'region':
            total, count = 0., 0
            for s_reg, t_reg, offsets in self._region_pairs(teacher, pred_global, pred_local,
                                                            geometry, batch):
                num_pairs = offsets.numel() // batch
                total = total + num_pairs * self.region_loss(s_reg, t_reg, offsets)
                count += num_pairs
            losses['loss_region'] = total / count
        else:
            losses['loss_region'] = self._global_target_loss(teacher, pred_global, pred_local)

        if self.patch_loss is not None:
            total, count = 0., 0
            for similarity in self._patch_similarities(teacher, pred_global, pred_local):
                num_pairs = similarity[..., 0, 0].numel() // batch
                total = total + num_pairs * self.patch_loss(similarity)
                count += num_pairs
            patch = total / count
            losses['loss_patch'] = self.patch_loss_weight() * patch
            losses['patch_similarity'] = -patch.detach()

        if self.rotation_head is not None:
            maps = [feat_global] + ([feat_local] if feat_local is not None else [])
            logits = torch.cat([self.rotation_head(m) for m in maps])
            labels = geometry['rotation_label'].t().reshape(-1)  # view-major like logits
            losses['loss_rotation'] = self.rotation_head.loss(logits, labels)
        return losses

    def _global_target_loss(self, teacher: Tensor, pred_global: Tensor,
                            pred_local: Tensor | None) -> Tensor:
        """Ablation: negative cosine of pooled maps over the same pairs."""
        g = self.num_global
        t_vec = teacher.mean((2, 3)).unflatten(0, (g, -1))  # (G, B, C)
        total, count = 0., 0
        if g > 1:
            s_vec = pred_global.mean((2, 3)).unflatten(0, (g, -1))
            total = total + (g * (g - 1)) * negative_cosine_similarity(
                s_vec[self._pair_s], t_vec[self._pair_t].detach(), dim=-1)
            count += g * (g - 1)
        if pred_local is not None:
            s_vec = pred_local.mean((2, 3)).unflatten(0, (-1, t_vec.shape[1]))  # (L, B, C)
            total = total + (g * s_vec.shape[0]) * negative_cosine_similarity(
                s_vec[None].expand(g, -1, -1, -1), t_vec[:, None].detach(), dim=-1)
            count += g * s_vec.shape[0]
        return self.region_loss.loss_weight * total / count
