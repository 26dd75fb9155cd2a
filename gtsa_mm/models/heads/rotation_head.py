"""Four-way rotation prediction head of GTSA."""
from __future__ import annotations

from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from gtsa_mm.geometry import NUM_ROTATIONS


@MODELS.register_module()
class RotationHead(BaseModule):
    """Predicts each view's quarter-turn rotation from its mean patch token.

    MLP ``in -> hidden (LN, GELU) -> hidden (LN, GELU) -> bottleneck (LN) -> 4``
    as in `GTSA <https://arxiv.org/abs/2304.08014>`_; ``GTSAHead`` trains it with
    its ``rotation_loss`` (cross-entropy).

    Args:
        in_channels (int): Backbone channels. Defaults to 384.
        hidden_channels (int): Hidden width. Defaults to 768.
        bottleneck_channels (int): Width before the classifier. Defaults to 128.
        num_classes (int): Rotation classes. Defaults to 4.
        init_cfg (dict | list, optional): Initialisation config.
    """

    def __init__(self, in_channels: int = 384, hidden_channels: int = 768,
                 bottleneck_channels: int = 128, num_classes: int = NUM_ROTATIONS,
                 init_cfg: dict | list | None = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.)) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden_channels), nn.LayerNorm(hidden_channels), nn.GELU(),
            nn.Linear(hidden_channels, hidden_channels), nn.LayerNorm(hidden_channels),
            nn.GELU(),
            nn.Linear(hidden_channels, bottleneck_channels), nn.LayerNorm(bottleneck_channels),
            nn.Linear(bottleneck_channels, num_classes))

    def forward(self, feature_map: Tensor) -> Tensor:
        """Logits ``(N, num_classes)`` from ``(N, C, H, W)`` patch-token maps."""
        return self.mlp(feature_map.mean(dim=(2, 3)))
