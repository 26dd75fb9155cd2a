"""GTSA's patch correspondence loss: pull the best-matching patch pairs together."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from torch import Tensor, nn

__all__ = ['PatchCorrespondenceLoss', 'matched_similarity', 'token_similarity']


def matched_similarity(similarity: Tensor, num_matches: int) -> Tensor:
    """Mean cosine of the ``num_matches`` best nearest-neighbour pairs, both ways.

    Every student token is matched to its most similar teacher token; the
    ``num_matches`` student tokens with the highest match similarity are kept.
    The same is done from teacher tokens to student tokens; the two directions
    are averaged.

    Args:
        similarity: ``(..., Ns, Nt)`` cosine similarities of student tokens
            (rows) and teacher tokens (columns).
        num_matches: tokens kept per direction (at most ``min(Ns, Nt)``).

    Returns:
        Scalar mean similarity of the kept matches.
    """
    student_to_teacher = similarity.amax(dim=-1).topk(num_matches, dim=-1).values
    teacher_to_student = similarity.amax(dim=-2).topk(num_matches, dim=-1).values
    return 0.5 * (student_to_teacher.mean() + teacher_to_student.mean())


def token_similarity(student_tokens: Tensor, teacher_tokens: Tensor) -> Tensor:
    """Cosine similarities ``(..., Ns, Nt)`` of ``(..., Ns, C)`` and ``(..., Nt, C)`` tokens."""
    return torch.matmul(F.normalize(student_tokens, dim=-1),
                        F.normalize(teacher_tokens.detach(), dim=-1).transpose(-1, -2))


@MODELS.register_module()
class PatchCorrespondenceLoss(nn.Module):
    """``-weight * matched_similarity``: pull the best-matching token pairs together.

    ``GTSAHead`` computes :meth:`match` of each group of view pairs, averages the
    groups (that mean is logged as ``patch_similarity``) and calls the module on it;
    ``loss(loss.match(similarity))`` is the loss of one group of pairs.

    The weight is ``loss_weight``, except during the warm-up, when it is 0: while the
    0-based MessageHub ``epoch`` (as MMEngine's loops count it) is ``< warmup_epochs``,
    or, when ``warmup_iters`` is set, while the 0-based MessageHub ``iter`` is
    ``< warmup_iters``. The authors switch the loss on when ``warmup_epochs < epoch``
    (0-based epochs; their ``warmup_epochs`` = 10, the lr warm-up), i.e. epochs 0..10
    have weight 0 and the loss starts at epoch 11: ``warmup_epochs`` here is their
    ``warmup_epochs + 1`` (11 in the paper's config).

    Args:
        loss_weight (float): Weight after the warm-up (the paper's 0.5). Defaults to 1.0.
        match_ratio (float): Kept matches as a fraction of the student view's
            tokens (98 of 196 for 224 px, 18 of 36 for 96 px). Defaults to 0.5.
        warmup_epochs (int): Epochs, from the first, with weight 0. Defaults to 0.
        warmup_iters (int, optional): Iterations with weight 0, for iteration-based
            loops; overrides ``warmup_epochs`` when set.
            ``(authors' warmup_epochs + 1) * iters_per_epoch`` gives their boundary.
    """

    def __init__(self, loss_weight: float = 1.0, match_ratio: float = 0.5,
                 warmup_epochs: int = 0, warmup_iters: int | None = None) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.match_ratio = match_ratio
        self.warmup_epochs = warmup_epochs
        self.warmup_iters = warmup_iters

    def num_matches(self, num_student_tokens: int) -> int:
        return max(1, int(num_student_tokens * self.match_ratio))

    def match(self, similarity: Tensor) -> Tensor:
        """Unweighted :func:`matched_similarity` of ``(..., Ns, Nt)`` similarities."""
        return matched_similarity(similarity.float(), self.num_matches(similarity.shape[-2]))

    def current_weight(self) -> float:
        """The weight at the current epoch / iteration: 0 during warm-up."""
        hub = MessageHub.get_current_instance()
        if self.warmup_iters is not None:
            warm = hub.get_info('iter', 0) < self.warmup_iters
        else:
            warm = hub.get_info('epoch', 0) < self.warmup_epochs
        return 0. if warm else self.loss_weight

    def forward(self, matched: Tensor) -> Tensor:
        """``-current_weight() * matched`` of a :meth:`match` result."""
        return -self.current_weight() * matched
