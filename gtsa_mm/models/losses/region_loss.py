"""GTSA's region loss: match the student to the rotated teacher on a shared region."""
from __future__ import annotations

import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from gtsa_mm.models.utils.roi_align import rot90_batched, rot90_table

__all__ = ['RegionLoss', 'negative_cosine_similarity', 'region_loss']


def negative_cosine_similarity(pred: Tensor, target: Tensor, dim: int = 1) -> Tensor:
    """``-cos(pred, target)`` along ``dim``, averaged over everything else."""
    return -(F.normalize(pred.float(), dim=dim) * F.normalize(target.float(), dim=dim)).sum(
        dim).mean()


def region_loss(student_regions: Tensor, teacher_regions: Tensor,
                rotation_offset: Tensor, rot_table: Tensor | None = None) -> Tensor:
    """Negative cosine between student regions and teacher regions turned to match.

    Args:
        student_regions: ``(P, C, k, k)`` RoI-aligned student maps of the
            shared regions, in the student views' orientation.
        teacher_regions: ``(P, C, k, k)`` the same regions from the teacher,
            in the teacher views' orientation.
        rotation_offset: ``(P,)`` quarter turns from teacher to student
            orientation (``label_student - label_teacher``).
        rot_table: :func:`rot90_table` of the region size (built when None).

    Returns:
        Scalar: ``-cos`` averaged over cells and pairs.
    """
    target = rot90_batched(teacher_regions.detach(), rotation_offset, rot_table)
    return negative_cosine_similarity(student_regions, target, dim=1)


@MODELS.register_module()
class RegionLoss(nn.Module):
    """Module form of :func:`region_loss`, scaled by its ``loss_weight``.

    Args:
        loss_weight (float): Weight of this module's output (the region term's
            weight in ``GTSAHead``: ``model.head.region_loss.loss_weight``).
            Defaults to 1.0.
        rotate_target (bool): Rotate the teacher regions to the student's
            orientation (GTSA). ``False`` gives the rotation-invariant ablation:
            the student is asked to match the unrotated teacher. Defaults to True.
    """

    def __init__(self, loss_weight: float = 1.0, rotate_target: bool = True) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.rotate_target = rotate_target
        self._rot_tables: dict[tuple, Tensor] = {}  # (size, device) -> rot90_table

    def forward(self, student_regions: Tensor, teacher_regions: Tensor,
                rotation_offset: Tensor) -> Tensor:
        if not self.rotate_target:
            rotation_offset = rotation_offset.new_zeros(rotation_offset.shape)
        key = (teacher_regions.shape[-1], teacher_regions.device)
        if key not in self._rot_tables:
            self._rot_tables[key] = rot90_table(*key)
        return self.loss_weight * region_loss(student_regions, teacher_regions,
                                              rotation_offset, self._rot_tables[key])
