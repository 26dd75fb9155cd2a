"""Feature pictures of any mmpretrain ViT checkpoint, and logging backends.

``visualize_checkpoints(['work_dirs/run/epoch_100.pth', 'random'], images, 'out/',
config=...)`` writes PCA, correspondence and attention PNGs (docs/visualization.md).
"""
from .features import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .vis_backend import *  # noqa: F401,F403
