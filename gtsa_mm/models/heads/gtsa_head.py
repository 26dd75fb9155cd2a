"""GTSA's loss head: the view pairs, their shared regions and token matches, the weights."""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from gtsa_mm.models.losses import negative_cosine_similarity, token_similarity
from gtsa_mm.models.utils.roi_align import roi_align_grouped

#: The paper's weights of the three terms (the patch term's after its warm-up).
DEFAULT_LOSS_WEIGHTS = dict(loss_region=1.0, loss_patch=0.5, loss_rotation=0.5)


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
    """The GTSA losses of one batch from the network's maps and the views' geometry.

    For each teacher global view ``t`` and each other view ``s`` (``G x (V - 1)``
    pairs, all of one kind, global-global or global-local, in one batched call):

    - region term: the region both views share is RoI-aligned out of the teacher
      map (in ``t``'s frame) and the student prediction (in ``s``'s frame) and
      compared by ``region_loss`` after turning the teacher's by
      ``label_s - label_t`` quarter turns; ``target='global'`` compares the
      spatially pooled maps instead (ablation);
    - patch term: ``patch_loss`` of the token similarities of the full maps;
    - rotation term: cross-entropy of the rotation logits of every view.

    Each term is averaged over its pairs (views for the rotation term).

    **Weights.** :meth:`loss_weights` is the only place a weight multiplies a
    term: ``loss_weights[key]`` for every term, the patch term's 0 during its
    warm-up. The loss modules are built without their own ``loss_weight``: a
    ``loss_weight`` in ``region_loss`` / ``patch_loss`` is taken out of the
    config and used as that term's weight (so configs written with MMDet-style
    per-loss weights keep their meaning).

    Args:
        num_global (int): Global (teacher) views. Defaults to 2.
        patch_size (int): Input pixels per map cell. Defaults to 16.
        region_sizes (tuple[int, int]): RoI output side for student views of
            global / local size. Defaults to (10, 4).
        region_loss (dict): ``RegionLoss`` config.
        patch_loss (dict, optional): ``PatchCorrespondenceLoss`` config; None
            disables the patch term.
        loss_weights (dict, optional): Weights by logged key (``loss_region``,
            ``loss_patch``, ``loss_rotation``), over :data:`DEFAULT_LOSS_WEIGHTS`.
        target (str): ``'region'`` (GTSA) or ``'global'`` (ablation).
        patch_loss_warmup_epochs (int): Epochs, from the first, with patch weight
            0: the weight is 0 while the 0-based MessageHub ``epoch`` is
            ``< patch_loss_warmup_epochs`` (see ``GTSA`` for the authors'
            boundary). Defaults to 11.
        patch_loss_warmup_iters (int, optional): The same in 0-based MessageHub
            iterations; overrides the epochs when set.
        init_cfg (dict | list, optional): Initialisation config.
    """

    def __init__(self,
                 num_global: int = 2,
                 patch_size: int = 16,
                 region_sizes: tuple[int, int] = (10, 4),
                 region_loss: dict = dict(type='RegionLoss'),
                 patch_loss: dict | None = dict(type='PatchCorrespondenceLoss'),
                 loss_weights: dict | None = None,
                 target: str = 'region',
                 patch_loss_warmup_epochs: int = 11,
                 patch_loss_warmup_iters: int | None = None,
                 init_cfg: dict | list | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if target not in ('region', 'global'):
            raise ValueError(f"GTSA: target must be 'region' or 'global', got {target!r}")
        self.target = target
        self.num_global = num_global
        self.patch_size = patch_size
        self.region_sizes = tuple(region_sizes)
        first, second, reverse = global_pair_index(num_global)
        self.register_buffer('pair_teacher', first, persistent=False)
        self.register_buffer('pair_student', second, persistent=False)
        self.register_buffer('pair_reversed', reverse, persistent=False)

        weights = dict(DEFAULT_LOSS_WEIGHTS, **(loss_weights or {}))
        region_loss = dict(region_loss)
        weights['loss_region'] = region_loss.pop('loss_weight', weights['loss_region'])
        self.region_loss = MODELS.build(region_loss)
        self.patch_loss = None
        if patch_loss is not None:
            patch_loss = dict(patch_loss)
            weights['loss_patch'] = patch_loss.pop('loss_weight', weights['loss_patch'])
            self.patch_loss = MODELS.build(patch_loss)
        self.base_loss_weights = weights
        self.patch_loss_warmup_epochs = patch_loss_warmup_epochs
        self.patch_loss_warmup_iters = patch_loss_warmup_iters

    # ----------------------------------------------------------------- weights
    def patch_loss_weight(self) -> float:
        """Scheduled weight of the patch term: 0 during warm-up, its weight after."""
        if self.patch_loss is None:
            return 0.
        hub = MessageHub.get_current_instance()
        if self.patch_loss_warmup_iters is not None:
            warm = hub.get_info('iter', 0) < self.patch_loss_warmup_iters
        else:
            warm = hub.get_info('epoch', 0) < self.patch_loss_warmup_epochs
        return 0. if warm else self.base_loss_weights['loss_patch']

    def loss_weights(self) -> dict[str, float]:
        """Weight of each term at the current epoch / iteration."""
        return dict(self.base_loss_weights, loss_patch=self.patch_loss_weight())

    # -------------------------------------------------------------------- loss
    def loss(self, teacher: Tensor, pred_global: Tensor, pred_local: Tensor | None,
             rotation_logits: Tensor | None, geometry: dict[str, Tensor]) -> dict[str, Tensor]:
        """Weighted terms and the unweighted ``patch_similarity``.

        Args:
            teacher: ``(G*B, C, h, w)`` teacher maps of the global views.
            pred_global: ``(G*B, C, h, w)`` student predictions of the global views.
            pred_local: ``(L*B, C, h', w')`` the same of the local views, or None.
            rotation_logits: ``(V*B, 4)`` view-major rotation logits, or None
                (no rotation term).
            geometry: :func:`~gtsa_mm.models.algorithms.gtsa.stack_geometry` output.
        """
        terms = {}
        if self.target == 'region':
            terms['loss_region'] = self.region_term(teacher, pred_global, pred_local, geometry)
        else:
            terms['loss_region'] = self.pooled_term(teacher, pred_global, pred_local)
        if self.patch_loss is not None:
            terms['loss_patch'] = self.patch_term(teacher, pred_global, pred_local)
        if rotation_logits is not None:
            labels = geometry['rotation_label'].t().reshape(-1)  # view-major like the logits
            terms['loss_rotation'] = F.cross_entropy(rotation_logits.float(), labels)
        weights = self.loss_weights()
        losses = {}
        for key, term in terms.items():
            losses[key] = weights[key] * term
            if key == 'loss_patch':
                losses['patch_similarity'] = -term.detach()
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
        """Unweighted region loss averaged over all pairs."""
        batch = geometry['rotation_label'].shape[0]
        return self._mean_over_groups(
            (self.region_loss(s_reg, t_reg, offsets), offsets.numel() // batch)
            for s_reg, t_reg, offsets in self.region_pairs(teacher, pred_global, pred_local,
                                                           geometry))

    def patch_term(self, teacher: Tensor, pred_global: Tensor,
                   pred_local: Tensor | None) -> Tensor:
        """Unweighted patch loss averaged over all pairs."""
        batch = teacher.shape[0] // self.num_global
        return self._mean_over_groups(
            (self.patch_loss(similarity), similarity[..., 0, 0].numel() // batch)
            for similarity in self.patch_similarities(teacher, pred_global, pred_local))

    def pooled_term(self, teacher: Tensor, pred_global: Tensor,
                    pred_local: Tensor | None) -> Tensor:
        """Ablation ``target='global'``: negative cosine of pooled maps, same pairs."""
        g = self.num_global
        t_vec = teacher.mean((2, 3)).unflatten(0, (g, -1)).detach()  # (G, B, C)
        groups = []
        if g > 1:
            s_vec = pred_global.mean((2, 3)).unflatten(0, (g, -1))
            groups.append((negative_cosine_similarity(
                s_vec[self.pair_student], t_vec[self.pair_teacher], dim=-1), g * (g - 1)))
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
        g = self.num_global
        batch = geometry['rotation_label'].shape[0]
        gb = geometry['global_region_boxes'].transpose(0, 1)  # (G, B, V, 4)
        vb = geometry['view_region_boxes'].transpose(0, 1)  # (V, B, G, 4)
        labels = geometry['rotation_label'].t()  # (V, B)
        first, second = self.pair_teacher, self.pair_student
        if g > 1:
            size = self.region_sizes[0]

            def align_at_partners(maps: Tensor, boxes: Tensor) -> Tensor:
                """Map ``a`` at its boxes for each partner ``b``: ``(P, B, C, k, k)``."""
                boxes = boxes[first, :, second].unflatten(0, (g, g - 1))  # (G, G-1, B, 4)
                regions = self._align(maps, boxes.transpose(1, 2).flatten(0, 1), size)
                return regions.unflatten(0, (g, batch)).transpose(1, 2).flatten(0, 1)

            t_reg = align_at_partners(teacher, gb)  # pair (t, s) in t's frame
            s_reg = align_at_partners(pred_global, vb)[self.pair_reversed]  # in s's frame
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
                           pred_local: Tensor | None):
        """Token cosine similarities ``(..., Ns, Nt)`` of all pairs, grouped by student size.

        The leading dimensions enumerate the pairs (their order differs between
        the groups; the patch loss averages over them).
        """
        g = self.num_global
        t_tok = teacher.unflatten(0, (g, -1)).flatten(3).transpose(-1, -2)  # (G, B, N, C)
        if g > 1:
            s_tok = pred_global.unflatten(0, (g, -1)).flatten(3).transpose(-1, -2)
            yield token_similarity(s_tok[self.pair_student], t_tok[self.pair_teacher])
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
