"""DINO, the invariance baseline GTSA is compared against."""
from __future__ import annotations

import torch
from mmengine.logging import MessageHub
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from gtsa_mm.models.utils import ForeachCosineEMA


@MODELS.register_module()
class DINO(BaseSelfSupervisor):
    """DINO self-distillation with a momentum teacher that is updated every step.

    Implementation of `Emerging Properties in Self-Supervised Vision
    Transformers <https://arxiv.org/abs/2104.14294>`_, on the same multi-crop
    views as GTSA (``GTSAMultiCrop``; its geometry is ignored) so the two
    methods differ only in what they learn.

    Args:
        backbone (dict): ``VisionTransformer`` with ``out_type='cls_token'``.
        head (dict): ``DINOProjectionHead``.
        loss (dict): ``DINOLoss``.
        num_global (int): Global views (teacher inputs), first in the inputs.
            Defaults to 2.
        base_momentum (float): ``1 - teacher momentum`` at the start; cosine to
            ``end_momentum``. Defaults to 0.004 (0.996).
        end_momentum (float): Defaults to 0 (1.0).
        teacher_temp (float): Teacher temperature after warm-up. Defaults to 0.07.
        warmup_teacher_temp (float): Teacher temperature at epoch 0.
            Defaults to 0.04.
        teacher_temp_warmup_epochs (int): Linear warm-up epochs. Defaults to 30.
        freeze_last_layer_epochs (int): Epochs without gradient to the
            prototypes. Defaults to 1.
        pretrained (str, optional): Checkpoint to load.
        data_preprocessor (dict, optional): Defaults to MultiViewDataPreprocessor.
        init_cfg (dict | list, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 loss: dict,
                 num_global: int = 2,
                 base_momentum: float = 0.004,
                 end_momentum: float = 0.,
                 teacher_temp: float = 0.07,
                 warmup_teacher_temp: float = 0.04,
                 teacher_temp_warmup_epochs: int = 30,
                 freeze_last_layer_epochs: int = 1,
                 pretrained: str | None = None,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | list | None = None) -> None:
        data_preprocessor = data_preprocessor or dict(type='MultiViewDataPreprocessor')
        super().__init__(backbone=backbone, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.dino_loss = MODELS.build(loss)
        self.num_global = num_global
        self.teacher_temp = teacher_temp
        self.warmup_teacher_temp = warmup_teacher_temp
        self.teacher_temp_warmup_epochs = teacher_temp_warmup_epochs
        self.freeze_last_layer_epochs = freeze_last_layer_epochs
        self.target_net = ForeachCosineEMA(nn.Sequential(self.backbone, self.head),
                                    momentum=base_momentum, end_momentum=end_momentum)

    def train(self, mode: bool = True) -> DINO:
        """Keep the teacher deterministic (no drop path)."""
        super().train(mode)
        self.target_net.eval()
        return self

    def current_teacher_temp(self, epoch: int) -> float:
        if epoch >= self.teacher_temp_warmup_epochs:
            return self.teacher_temp
        frac = epoch / max(1, self.teacher_temp_warmup_epochs)
        return self.warmup_teacher_temp + frac * (self.teacher_temp - self.warmup_teacher_temp)

    def loss(self, inputs: list[Tensor], data_samples: list[DataSample],
             **kwargs) -> dict[str, Tensor]:
        """DINO loss of one batch; views of one size are run together."""
        g = self.num_global
        epoch = MessageHub.get_current_instance().get_info('epoch', 0)
        freeze = epoch < self.freeze_last_layer_epochs
        global_views = torch.cat(inputs[:g])
        student = [self.head(self.backbone(global_views), freeze_last_layer=freeze)]
        if len(inputs) > g:
            student.append(self.head(self.backbone(torch.cat(inputs[g:])),
                                     freeze_last_layer=freeze))
        batch = inputs[0].shape[0]
        student = torch.cat(student).unflatten(0, (-1, batch))  # (V, B, K)
        with torch.no_grad():
            self.target_net.update_parameters(nn.Sequential(self.backbone, self.head))
            teacher = self.target_net(global_views).unflatten(0, (g, batch))
        loss = self.dino_loss(student, teacher, self.current_teacher_temp(epoch))
        return dict(loss=loss)
