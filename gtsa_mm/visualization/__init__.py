"""Feature and view pictures, logging backends, and MMPretrain's dataset browser.

``visualize_checkpoints(['work_dirs/run/epoch_100.pth', 'random'], images, 'out/',
config=...)`` writes PCA, correspondence and attention PNGs; ``browse_views(config,
'out/')`` draws GTSA's crops and views of a config's training images
(docs/visualization.md). Importing this package lets MMPretrain 1.2.0's
``browse_dataset.py`` run on the pinned matplotlib (:mod:`.matplotlib_compat`).
"""
from .features import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .matplotlib_compat import *  # noqa: F401,F403
from .matplotlib_compat import patch_matplotlib_adjust_bbox
from .views import *  # noqa: F401,F403
from .vis_backend import *  # noqa: F401,F403

patch_matplotlib_adjust_bbox()
