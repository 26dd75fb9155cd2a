"""GTSA's convolutional projector and predictor (dense, map-to-map necks).

Their channel LayerNorms have no affine parameters, so ``norm_eps`` is a forward-time
constant: it is not in the state dict, and checkpoints trained with another eps load
unchanged (``norm_eps`` reproduces their forward).
"""
from __future__ import annotations

import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor, nn

# the authors' nn.LayerNorm(dim, elementwise_affine=False): PyTorch's default eps
CHANNEL_NORM_EPS = 1e-5


def channel_layer_norm(x: Tensor, eps: float = CHANNEL_NORM_EPS) -> Tensor:
    """LayerNorm over the channels of an ``(N, C, H, W)`` map, without affine."""
    return F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], eps=eps).permute(0, 3, 1, 2)


class ConvNormAct(nn.Module):
    """``conv -> channel LayerNorm (no affine) -> GELU``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 norm_eps: float = CHANNEL_NORM_EPS) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.act = nn.GELU()
        self.norm_eps = norm_eps

    def forward(self, x: Tensor) -> Tensor:
        return self.act(channel_layer_norm(self.conv(x), self.norm_eps))


def _last_map(x: Tensor | tuple | list) -> Tensor:
    return x[-1] if isinstance(x, (tuple, list)) else x


_TRUNC_NORMAL_INIT = [dict(type='TruncNormal', layer=['Conv2d'], std=0.02, bias=0.)]


@MODELS.register_module()
class GTSAProjector(BaseModule):
    """GTSA projector: residual ``[3x3 conv, channel LN, GELU]`` blocks + 1x1 conv.

    Used by the student and (through the EMA) the teacher. See
    `GTSA <https://arxiv.org/abs/2304.08014>`_.

    Args:
        in_channels (int): Channels of the backbone map. Defaults to 384.
        out_channels (int): Channels of the projected map. Defaults to 768.
        num_blocks (int): Residual blocks before the 1x1 conv. Defaults to 2.
        kernel_size (int): Kernel of the block convs. Defaults to 3.
        norm_eps (float): Eps of the channel LayerNorms (no parameters, not in the
            state dict). Defaults to 1e-5, the authors' (PyTorch's default).
        init_cfg (dict | list, optional): Initialisation config.
    """

    def __init__(self, in_channels: int = 384, out_channels: int = 768,
                 num_blocks: int = 2, kernel_size: int = 3,
                 norm_eps: float = CHANNEL_NORM_EPS,
                 init_cfg: dict | list | None = _TRUNC_NORMAL_INIT) -> None:
        super().__init__(init_cfg=init_cfg)
        self.blocks = nn.ModuleList(
            ConvNormAct(in_channels, in_channels, kernel_size, norm_eps)
            for _ in range(num_blocks))
        self.proj = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor | tuple) -> tuple[Tensor]:
        """Project the backbone's last map; returns a 1-tuple (OpenMMLab neck style)."""
        x = _last_map(x)
        for block in self.blocks:
            x = x + block(x)
        return (self.proj(x), )


@MODELS.register_module()
class GTSAPredictor(BaseModule):
    """GTSA predictor (student only): ``[3x3 conv, channel LN, GELU] -> 1x1 conv``.

    Args:
        in_channels (int): Channels of the projector map. Defaults to 768.
        hidden_channels (int): Channels after the 3x3 conv. Defaults to 768.
        out_channels (int): Output channels. Defaults to 768.
        kernel_size (int): Kernel of the first conv. Defaults to 3.
        norm_eps (float): Eps of the channel LayerNorm (no parameters, not in the
            state dict). Defaults to 1e-5, the authors'.
        init_cfg (dict | list, optional): Initialisation config.
    """

    def __init__(self, in_channels: int = 768, hidden_channels: int = 768,
                 out_channels: int = 768, kernel_size: int = 3,
                 norm_eps: float = CHANNEL_NORM_EPS,
                 init_cfg: dict | list | None = _TRUNC_NORMAL_INIT) -> None:
        super().__init__(init_cfg=init_cfg)
        self.block = ConvNormAct(in_channels, hidden_channels, kernel_size, norm_eps)
        self.proj = nn.Conv2d(hidden_channels, out_channels, 1)

    def forward(self, x: Tensor | tuple) -> tuple[Tensor]:
        return (self.proj(self.block(_last_map(x))), )
