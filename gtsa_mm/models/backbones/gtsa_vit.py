"""mmpretrain's ``VisionTransformer`` with the GTSA authors' position-embedding resize.

The authors' ViT (DINO's ``interpolate_pos_encoding``) resizes the 14 x 14 grid of
position embeddings for a 96 px view by *scale factor* ``(w0 + 0.1) / 14`` (``w0`` =
6 patches; the 0.1 guards the floor of the output size), bicubic. mmpretrain's
``resize_pos_embed`` resizes by *output size* 6 x 6. Both give a 6 x 6 grid, but
``F.interpolate`` places its samples by the scale it is given, so the grids differ.

The rule lives in the forward pass only: :class:`GTSAVisionTransformer` has the
state dict of ``mmpretrain.VisionTransformer`` (same keys, shapes and values), so
its checkpoints go unchanged into MMDetection / MMSegmentation configs that build
``mmpretrain.VisionTransformer``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import Tensor

POS_EMBED_RESIZE_RULES = ('dino', 'size')


def dino_resize_pos_embed(pos_embed: Tensor, src_shape: Sequence[int],
                          dst_shape: Sequence[int], mode: str = 'bicubic',
                          num_extra_tokens: int = 1) -> Tensor:
    """Resize ``(1, extra + h*w, C)`` position embeddings as DINO / the GTSA authors do.

    Same arguments as mmpretrain's ``resize_pos_embed``; the grid is interpolated
    with ``scale_factor = (dst + 0.1) / src`` per axis instead of ``size=dst``.
    Returned unchanged when the shapes are equal.
    """
    src_h, src_w = src_shape
    dst_h, dst_w = dst_shape
    if (src_h, src_w) == (dst_h, dst_w):
        return pos_embed
    extra = pos_embed[:, :num_extra_tokens]
    grid = pos_embed[:, num_extra_tokens:]
    channels = grid.shape[-1]
    grid = grid.reshape(1, src_h, src_w, channels).permute(0, 3, 1, 2)
    # bicubic is float32-only on some devices, as in mmpretrain's resize_pos_embed
    resized = F.interpolate(grid.float(), mode=mode, align_corners=False,
                            scale_factor=((dst_h + 0.1) / src_h, (dst_w + 0.1) / src_w))
    assert resized.shape[-2:] == (dst_h, dst_w), resized.shape
    resized = resized.flatten(2).transpose(1, 2).to(pos_embed.dtype)
    return torch.cat((extra, resized), dim=1)


@MODELS.register_module()
class GTSAVisionTransformer(VisionTransformer):
    """``mmpretrain.VisionTransformer`` with a choice of position-embedding resize.

    Args:
        pos_embed_resize (str): ``'dino'`` (default): the GTSA authors' rule,
            :func:`dino_resize_pos_embed`; ``'size'``: mmpretrain's
            ``resize_pos_embed``, i.e. exactly ``VisionTransformer``. Inputs of
            the embedding's own size (224 px for ViT-S/16) are not resized by
            either rule.
        *args, **kwargs: ``VisionTransformer``'s arguments.

    The state dict is ``VisionTransformer``'s. Select it in a pretraining config
    with ``model.backbone.type='GTSAVisionTransformer'``.
    """

    def __init__(self, *args, pos_embed_resize: str = 'dino', **kwargs) -> None:
        if pos_embed_resize not in POS_EMBED_RESIZE_RULES:
            raise ValueError(f'GTSAVisionTransformer: pos_embed_resize must be one of '
                             f'{POS_EMBED_RESIZE_RULES}, got {pos_embed_resize!r}')
        super().__init__(*args, **kwargs)
        self.pos_embed_resize = pos_embed_resize

    def resized_pos_embed(self, patch_resolution: Sequence[int]) -> Tensor:
        """The position embeddings for a ``patch_resolution`` token grid."""
        resize = dino_resize_pos_embed if self.pos_embed_resize == 'dino' else resize_pos_embed
        return resize(self.pos_embed, self.patch_resolution, patch_resolution,
                      mode=self.interpolate_mode, num_extra_tokens=self.num_extra_tokens)

    def forward(self, x: Tensor) -> tuple:
        """``VisionTransformer.forward`` with :meth:`resized_pos_embed`."""
        if self.pos_embed_resize == 'size':
            return super().forward(x)
        tokens, patch_resolution = self.patch_embed(x)
        if self.cls_token is not None:
            tokens = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self.resized_pos_embed(patch_resolution)
        tokens = self.pre_norm(self.drop_after_pos(tokens))
        outs = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            tokens = layer(tokens)
            if i == last and self.final_norm:
                tokens = self.ln1(tokens)
            if i in self.out_indices:
                outs.append(self._format_output(tokens, patch_resolution))
        return tuple(outs)
