"""DINO's self-distillation loss with a centred, sharpened teacher."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from mmpretrain.registry import MODELS
from torch import Tensor, nn

__all__ = ['DINOLoss', 'dino_cross_entropy']


def dino_cross_entropy(student: Tensor, teacher: Tensor, center: Tensor,
                       student_temp: float, teacher_temp: float) -> Tensor:
    """Mean over pairs (teacher view t, student view s != t) of the cross-entropy.

    Args:
        student: ``(Vs, B, K)`` student scores of all views.
        teacher: ``(Vt, B, K)`` teacher scores of the global views (the first
            ``Vt`` student views are the same images).
        center: ``(K,)`` running mean of the teacher scores.
        student_temp: student softmax temperature.
        teacher_temp: teacher softmax temperature.
    """
    log_p = F.log_softmax(student.float() / student_temp, dim=-1)  # (Vs, B, K)
    q = F.softmax((teacher.float() - center) / teacher_temp, dim=-1).detach()  # (Vt, B, K)
    ce = -torch.einsum('tbk,sbk->tsb', q, log_p).mean(-1)  # (Vt, Vs)
    num_t, num_s = ce.shape
    same_view = torch.eye(num_t, num_s, dtype=torch.bool, device=ce.device)
    return ce.masked_fill(same_view, 0.).sum() / (num_t * num_s - min(num_t, num_s))


@MODELS.register_module()
class DINOLoss(nn.Module):
    """DINO loss with teacher centring (EMA of the batch mean) and sharpening.

    Args:
        out_channels (int): Number of prototypes.
        student_temp (float): Student temperature. Defaults to 0.1.
        center_momentum (float): EMA momentum of the center. Defaults to 0.9.
    """

    def __init__(self, out_channels: int, student_temp: float = 0.1,
                 center_momentum: float = 0.9) -> None:
        super().__init__()
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer('center', torch.zeros(out_channels))

    def forward(self, student: Tensor, teacher: Tensor, teacher_temp: float) -> Tensor:
        loss = dino_cross_entropy(student, teacher, self.center, self.student_temp,
                                  teacher_temp)
        self.update_center(teacher)
        return loss

    @torch.no_grad()
    def update_center(self, teacher: Tensor) -> None:
        """``center <- m * center + (1 - m) * mean of teacher scores`` (all ranks)."""
        batch_sum = teacher.float().flatten(0, -2).sum(0)
        # built on the device (no copy of host data, hence no sync)
        count = batch_sum.new_full((), float(teacher.flatten(0, -2).shape[0]))
        if get_world_size() > 1:
            all_reduce(batch_sum, op='sum')
            all_reduce(count, op='sum')
        self.center.mul_(self.center_momentum).add_(batch_sum / count,
                                                    alpha=1 - self.center_momentum)
