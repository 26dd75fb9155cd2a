"""GTSA's loss head: the view pairs, their shared regions and token matches, the weights."""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from gtsa_mm.models.losses import negative_cosine_similarity, token_similarity
from gtsa_mm.models.utils.roi_align import roi_align_grouped


def global_pair_index(num_global: int) -> tuple[Tensor, Tensor, Tensor]:
    """The ``P = G (G - 1)`` ordered pairs ``(a, b)`` of distinct global views.

    Pairs are numbered ``p = a (G - 1) + j`` where ``b`` is ``a``'s ``j``-th partner
    (the globals other than ``a``, in order), which is how a map's RoIs are laid out
    when a global map is aligned at the boxes of all its partners.

    Returns:
        ``(first, second, reversed)``: ``(P,)`` the views ``a`` and ``b`` of each
        pair and the number of the pair ``(b, a)``.
    """
    partners = [[b for b in range(num_global) if b != a] for a in range(num_global)]
    first = [a for a in range(num_global) for _ in partners[a]]
    second = [b for a in range(num_global) for b in partners[a]]
    reverse = [b * (num_global - 1) + partners[b].index(a) for a, b in zip(first, second)]
    return (torch.tensor(first, dtype=torch.long), torch.tensor(second, dtype=torch.long),
            torch.tensor(reverse, dtype=torch.long))


@MODELS.register_module()
class GTSAHead(BaseModule):
    """GTSA's head: the student's predictor and rotation head, and the three losses.

    Built from ``model.head`` by :class:`~gtsa_mm.models.algorithms.GTSA`, as
    MMPretrain's BYOL builds its ``LatentPredictHead``. For each teacher global view
    ``t`` and each other view ``s`` (``G x (V - 1)`` pairs, all of one kind,
    global-global or global-local, in one batched call):

    - region term (``region_loss``): the region both views share is RoI-aligned out
      of the teacher map (in ``t``'s frame) and the student prediction (in ``s``'s
      frame) and compared after turning the teacher's by ``label_s - label_t``
      quarter turns; ``target='global'`` compares the spatially pooled maps instead
      (ablation);
    - patch term (``patch_loss``): the matched token similarities of the full maps;
    - rotation term (``rotation_loss``): cross-entropy of ``rotation_head``'s
      logits of every view.

    Each term is averaged over its pairs (views for the rotation term). **Weights**
    follow one rule, MMPretrain's: every loss module scales its own output by its
    ``loss_weight`` (``model.head.region_loss.loss_weight`` and so on), and the patch
    loss's weight is 0 during its warm-up (``PatchCorrespondenceLoss``). The number of
    global views ``G`` is read from the batch's geometry (the pipeline's
    ``GTSAMultiCrop`` owns it).

    Args:
        predictor (dict): The student predictor (``GTSAPredictor``), applied to the
            projected maps.
        patch_size (int): Input pixels per map cell. ``GTSA`` passes its backbone's;
            it is never written in a config.
        rotation_head (dict, optional): ``RotationHead``; None disables the rotation
            term (ablation).
        region_loss (dict): ``RegionLoss``; the paper's weight 1.0.
        patch_loss (dict, optional): ``PatchCorrespondenceLoss`` (weight 0.5 after
            an 11-epoch warm-up in the paper); None disables the patch term.
        rotation_loss (dict): Loss of the rotation logits and labels, MMPretrain's
            ``CrossEntropyLoss`` with the paper's weight 0.5.
        region_sizes (tuple[int, int]): RoI output side for student views of
            global / local size. Defaults to (10, 4).
        target (str): ``'region'`` (GTSA) or ``'global'`` (ablation).
        init_cfg (dict | list, optional): Initialisation config.
    """

    def __init__(self,
                 predictor: dict,
                 patch_size: int,
                 rotation_head: dict | None = dict(type='RotationHead'),
                 region_loss: dict = dict(type='RegionLoss', loss_weight=1.0),
                 patch_loss: dict | None = dict(type='PatchCorrespondenceLoss',
                                                loss_weight=0.5, warmup_epochs=11),
                 rotation_loss: dict = dict(type='CrossEntropyLoss', loss_weight=0.5),
                 region_sizes: tuple[int, int] = (10, 4),
                 target: str = 'region',
                 init_cfg: dict | list | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if target not in ('region', 'global'):
            raise ValueError(f"GTSA: target must be 'region' or 'global', got {target!r}")
        self.predictor = MODELS.build(predictor)
        self.rotation_head = MODELS.build(rotation_head) if rotation_head else None
        self.region_loss = MODELS.build(region_loss)
        self.patch_loss = MODELS.build(patch_loss) if patch_loss else None
        self.rotation_loss = MODELS.build(rotation_loss) if rotation_head else None
        self.patch_size = patch_size
        self.region_sizes = tuple(region_sizes)
        self.target = target
        self._pair_indices: dict[tuple, tuple[Tensor, Tensor, Tensor]] = {}

    def pair_index(self, num_global: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """:func:`global_pair_index` of ``num_global`` on ``device`` (built once)."""
        key = (num_global, device)
        if key not in self._pair_indices:
            self._pair_indices[key] = tuple(t.to(device) for t in global_pair_index(num_global))
        return self._pair_indices[key]

    # -------------------------------------------------------------------- loss
    def loss(self, teacher: Tensor, pred_global: Tensor, pred_local: Tensor | None,
             feat_global: Tensor, feat_local: Tensor | None,
             geometry: dict[str, Tensor]) -> dict[str, Tensor]:
        """Weighted terms and the unweighted ``patch_similarity``.

        Args:
            teacher: ``(G*B, C, h, w)`` teacher maps of the global views.
            pred_global: ``(G*B, C, h, w)`` student predictions of the global views
                (:attr:`predictor` of the projected maps).
            pred_local: ``(L*B, C, h', w')`` the same of the local views, or None.
            feat_global: ``(G*B, D, h, w)`` student backbone maps of the global views
                (the rotation head's input).
            feat_local: ``(L*B, D, h', w')`` the same of the local views, or None.
            geometry: :func:`~gtsa_mm.models.algorithms.gtsa.stack_geometry` output.
        """
        num_global = geometry['global_region_boxes'].shape[1]
        losses = {}
        if self.target == 'region':
            losses['loss_region'] = self.region_term(teacher, pred_global, pred_local,
                                                     geometry)
        else:
            losses['loss_region'] = self.pooled_term(teacher, pred_global, pred_local,
                                                     num_global)
        if self.patch_loss is not None:
            matched = self.matched_similarity(teacher, pred_global, pred_local, num_global)
            losses['loss_patch'] = self.patch_loss(matched)
            losses['patch_similarity'] = matched.detach()
        if self.rotation_head is not None:
            maps = [feat_global] + ([feat_local] if feat_local is not None else [])
            logits = torch.cat([self.rotation_head(m) for m in maps])
            labels = geometry['rotation_label'].t().reshape(-1)  # view-major like the logits
            losses['loss_rotation'] = self.rotation_loss(logits.float(), labels)
        return losses

    @staticmethod
    def _mean_over_groups(groups: Iterator[tuple[Tensor, int]]) -> Tensor:
        """Pair-weighted mean of per-group means ``(value, num_pairs)``."""
        total, count = 0., 0
        for value, num_pairs in groups:
            total = total + num_pairs * value
            count += num_pairs
        return total / count

    def region_term(self, teacher: Tensor, pred_global: Tensor, pred_local: Tensor | None,
                    geometry: dict[str, Tensor]) -> Tensor:
        """``region_loss`` (weighted) averaged over all pairs."""
        batch = geometry['rotation_label'].shape[0]
        return self._mean_over_groups(
            (self.region_loss(s_reg, t_reg, offsets), offsets.numel() // batch)
            for s_reg, t_reg, offsets in self.region_pairs(teacher, pred_global, pred_local,
                                                           geometry))

    def matched_similarity(self, teacher: Tensor, pred_global: Tensor,
                           pred_local: Tensor | None, num_global: int) -> Tensor:
        """``patch_loss.match`` (unweighted) averaged over all pairs."""
        batch = teacher.shape[0] // num_global
        return self._mean_over_groups(
            (self.patch_loss.match(similarity), similarity[..., 0, 0].numel() // batch)
            for similarity in self.patch_similarities(teacher, pred_global, pred_local,
                                                      num_global))

    def pooled_term(self, teacher: Tensor, pred_global: Tensor, pred_local: Tensor | None,
                    num_global: int) -> Tensor:
        """Ablation ``target='global'``: negative cosine of pooled maps, same pairs."""
        g = num_global
        first, second, _ = self.pair_index(g, teacher.device)
        t_vec = teacher.mean((2, 3)).unflatten(0, (g, -1)).detach()  # (G, B, C)
        groups = []
        if g > 1:
            s_vec = pred_global.mean((2, 3)).unflatten(0, (g, -1))
            groups.append((negative_cosine_similarity(
                s_vec[second], t_vec[first], dim=-1), g * (g - 1)))
        if pred_local is not None:
            s_vec = pred_local.mean((2, 3)).unflatten(0, (-1, t_vec.shape[1]))  # (L, B, C)
            groups.append((negative_cosine_similarity(
                s_vec[None].expand(g, -1, -1, -1), t_vec[:, None], dim=-1),
                g * s_vec.shape[0]))
        return self._mean_over_groups(iter(groups))

    # ------------------------------------------------------------------- pairs
    def _align(self, maps: Tensor, boxes: Tensor, size: int) -> Tensor:
        """RoI-align ``(N, M, 4)`` boxes of input pixels on ``(N, C, h, w)`` maps."""
        bound = math.ceil(maps.shape[-1] / size) + 1
        return roi_align_grouped(maps, boxes, size, 1. / self.patch_size, max_samples=bound)

    def region_pairs(self, teacher: Tensor, pred_global: Tensor, pred_local: Tensor | None,
                     geometry: dict[str, Tensor]):
        """RoI-aligned regions and rotation offsets of all pairs, grouped by size.

        Yields ``(student_regions, teacher_regions, offsets)`` with the pairs
        (times the batch) flattened first.
        """
        batch, g = geometry['global_region_boxes'].shape[:2]
        gb = geometry['global_region_boxes'].transpose(0, 1)  # (G, B, V, 4)
        vb = geometry['view_region_boxes'].transpose(0, 1)  # (V, B, G, 4)
        labels = geometry['rotation_label'].t()  # (V, B)
        first, second, reverse = self.pair_index(g, teacher.device)
        if g > 1:
            size = self.region_sizes[0]

            def align_at_partners(maps: Tensor, boxes: Tensor) -> Tensor:
                """Map ``a`` at its boxes for each partner ``b``: ``(P, B, C, k, k)``."""
                boxes = boxes[first, :, second].unflatten(0, (g, g - 1))  # (G, G-1, B, 4)
                regions = self._align(maps, boxes.transpose(1, 2).flatten(0, 1), size)
                return regions.unflatten(0, (g, batch)).transpose(1, 2).flatten(0, 1)

            t_reg = align_at_partners(teacher, gb)  # pair (t, s) in t's frame
            s_reg = align_at_partners(pred_global, vb)[reverse]  # in s's frame
            offsets = labels[second] - labels[first]  # (P, B)
            yield s_reg.flatten(0, 1), t_reg.flatten(0, 1), offsets.flatten()
        if pred_local is not None:
            size = self.region_sizes[1]
            num_local = labels.shape[0] - g
            t_boxes = gb[:, :, g:].reshape(g * batch, num_local, 4)
            s_boxes = vb[g:].reshape(num_local * batch, g, 4)
            t_reg = self._align(teacher, t_boxes, size).unflatten(0, (g, batch))  # (G,B,L,..)
            s_reg = self._align(pred_local, s_boxes, size).unflatten(0, (num_local, batch))
            s_reg = s_reg.permute(2, 1, 0, 3, 4, 5)  # (G, B, L, C, k, k)
            offsets = labels[None, g:] - labels[:g, None]  # (G, L, B)
            yield (s_reg.flatten(0, 2), t_reg.flatten(0, 2),
                   offsets.transpose(1, 2).flatten())

    def patch_similarities(self, teacher: Tensor, pred_global: Tensor,
                           pred_local: Tensor | None, num_global: int):
        """Token cosine similarities ``(..., Ns, Nt)`` of all pairs, grouped by student size.

        The leading dimensions enumerate the pairs (their order differs between
        the groups; the patch loss averages over them).
        """
        g = num_global
        t_tok = teacher.unflatten(0, (g, -1)).flatten(3).transpose(-1, -2)  # (G, B, N, C)
        if g > 1:
            first, second, _ = self.pair_index(g, teacher.device)
            s_tok = pred_global.unflatten(0, (g, -1)).flatten(3).transpose(-1, -2)
            yield token_similarity(s_tok[second], t_tok[first])
        if pred_local is not None:
            # One (L*n, G*N) product per image instead of broadcasting (L, B, n, C)
            # against (G, B, N, C), which copied the teacher tokens once per local view
            # (8 x 19M values at batch 64) and kept the copy for the backward pass.
            batch, num_t = t_tok.shape[1:3]
            s_tok = pred_local.unflatten(0, (-1, batch)).flatten(3).transpose(-1, -2)
            num_local, num_s = s_tok.shape[0], s_tok.shape[2]
            similarity = token_similarity(s_tok.transpose(0, 1).flatten(1, 2),
                                          t_tok.transpose(0, 1).flatten(1, 2))
            yield similarity.view(batch, num_local, num_s, g, num_t).transpose(2, 3)  # B,L,G,n,N
