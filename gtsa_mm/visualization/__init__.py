"""Feature pictures of any mmpretrain ViT checkpoint, and logging backends.

``visualize_checkpoints(['work_dirs/run/epoch_100.pth', 'random'], images, 'out/',
config=...)`` writes PCA, correspondence and attention PNGs (docs/visualization.md).
"""
from .features import (
                       VIEW_TRANSFORMS,
                       Correspondences,
                       LoadedBackbone,
                       last_block_attention,
                       load_vit,
                       nearest_patches,
                       patch_features,
                       pca_rgb,
                       read_rgb,
                       view_pair,
)
from .figures import (
                       plot_attention,
                       plot_correspondences,
                       plot_pca,
                       visualize_backbones,
                       visualize_checkpoint,
                       visualize_checkpoints,
)
from .vis_backend import OptionalTensorboardVisBackend, tensorboard_available

__all__ = [
    'VIEW_TRANSFORMS', 'Correspondences', 'LoadedBackbone', 'OptionalTensorboardVisBackend',
    'last_block_attention', 'load_vit', 'nearest_patches', 'patch_features', 'pca_rgb',
    'plot_attention', 'plot_correspondences', 'plot_pca', 'read_rgb', 'tensorboard_available',
    'view_pair', 'visualize_backbones', 'visualize_checkpoint', 'visualize_checkpoints'
]
