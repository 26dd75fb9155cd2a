"""DINO's projection head with a weight-normalised last layer."""
from __future__ import annotations

import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class DINOProjectionHead(BaseModule):
    """MLP -> L2-normalised bottleneck -> weight-normalised linear to prototypes.

    As in `DINO <https://arxiv.org/abs/2104.14294>`_. The last layer is
    ``v / ||v||`` per prototype; with ``norm_last_layer=True`` its norm is fixed
    to 1, which stabilises training.

    Args:
        in_channels (int): Backbone output channels. Defaults to 384.
        hidden_channels (int): Hidden width of the MLP. Defaults to 2048.
        bottleneck_channels (int): Width before the prototypes. Defaults to 256.
        out_channels (int): Number of prototypes. Defaults to 65536.
        num_layers (int): Linear layers of the MLP (>= 1). Defaults to 3.
        norm_last_layer (bool): Fix the prototypes' norm to 1. Defaults to True.
        init_cfg (dict | list, optional): Initialisation config.
    """

    def __init__(self, in_channels: int = 384, hidden_channels: int = 2048,
                 bottleneck_channels: int = 256, out_channels: int = 65536,
                 num_layers: int = 3, norm_last_layer: bool = True,
                 init_cfg: dict | list | None = dict(type='TruncNormal', layer='Linear',
                                                     std=0.02, bias=0.)) -> None:
        super().__init__(init_cfg=init_cfg)
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [bottleneck_channels]
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.last_layer = nn.utils.parametrizations.weight_norm(
            nn.Linear(bottleneck_channels, out_channels, bias=False))
        self.norm_last_layer = norm_last_layer
        # parametrization 'original0' is the norm g, 'original1' the direction v
        self.last_layer.parametrizations.weight.original0.data.fill_(1.)
        self.last_layer.parametrizations.weight.original0.requires_grad = not norm_last_layer

    def init_weights(self) -> None:
        super().init_weights()
        self.last_layer.parametrizations.weight.original0.data.fill_(1.)

    def forward(self, x: Tensor | tuple, freeze_last_layer: bool = False) -> Tensor:
        """Prototype scores ``(N, out_channels)``.

        Args:
            x: backbone output; a tuple's last element is used.
            freeze_last_layer: use the prototypes without gradient (DINO freezes
                them during the first epoch).
        """
        if isinstance(x, (tuple, list)):
            x = x[-1]
        x = F.normalize(self.mlp(x), dim=-1)
        weight = self.last_layer.weight
        if freeze_last_layer:
            weight = weight.detach()
        return F.linear(x, weight)
