"""GTSA's patch correspondence loss: pull the best-matching patch pairs together."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor, nn

__all__ = [
    'PatchCorrespondenceLoss', 'matched_similarity', 'patch_correspondence_loss',
    'token_similarity'
]


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


def patch_correspondence_loss(student_tokens: Tensor, teacher_tokens: Tensor,
                              num_matches: int) -> Tensor:
    """``-matched_similarity`` of student and (detached) teacher tokens."""
    return -matched_similarity(token_similarity(student_tokens, teacher_tokens).float(),
                               num_matches)


@MODELS.register_module()
class PatchCorrespondenceLoss(nn.Module):
    """Module form of :func:`patch_correspondence_loss`, from token similarities.

    Args:
        loss_weight (float): Weight of this module's output. Defaults to 1.0. In
            ``GTSA`` the config's ``loss_weight`` is the patch term's weight, which
            ``GTSAHead`` applies (0 during warm-up; the paper's 0.5 after).
        match_ratio (float): Kept matches as a fraction of the student view's
            tokens (98 of 196 for 224 px, 18 of 36 for 96 px). Defaults to 0.5.
    """

    def __init__(self, loss_weight: float = 1.0, match_ratio: float = 0.5) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.match_ratio = match_ratio

    def num_matches(self, num_student_tokens: int) -> int:
        return max(1, int(num_student_tokens * self.match_ratio))

    def forward(self, similarity: Tensor) -> Tensor:
        """``-loss_weight * matched_similarity`` of ``(..., Ns, Nt)`` similarities."""
        return -self.loss_weight * matched_similarity(
            similarity.float(), self.num_matches(similarity.shape[-2]))
