"""Facts read off an MMPretrain ViT backbone."""
from torch import nn


def vit_patch_size(backbone: nn.Module) -> int:
    """The patch side of a ViT backbone: its square patch-embedding stride."""
    projection = getattr(getattr(backbone, 'patch_embed', None), 'projection', None)
    stride = getattr(projection, 'stride', None)
    if stride is None or len(set(stride)) != 1:
        raise ValueError(f'GTSA: cannot read the patch size of {type(backbone).__name__} '
                         '(no square patch_embed.projection stride): GTSA needs a ViT '
                         'backbone such as mmpretrain VisionTransformer.')
    return int(stride[0])
