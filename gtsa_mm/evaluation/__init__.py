"""Frozen-backbone dense evaluation of ViT checkpoints (GTSA, DINO, random init).

- :func:`linear_segmentation_probe`: a closed-form 1x1 linear probe on patch tokens;
- :func:`nn_retrieval_probe`: dense nearest-neighbour label transfer (Hummingbird);
- :func:`position_probe`, :func:`rotation_probe`: what GTSA is built to keep;
- :func:`collapse_statistics`: std of L2-normalised features and effective rank;
- :func:`evaluate_backbone`: all of them on a :class:`DenseProbeData` set, as used by
  ``DenseProbeHook`` during training and ``tools/evaluate_features.py`` after it;
- :class:`FeatureStatisticsLoop`, :class:`FeatureStatisticsMetric`: the pretraining
  configs' test loop (collapse statistics of one feature per test image).
"""
from .backbones import *  # noqa: F401,F403
from .collapse import *  # noqa: F401,F403
from .dense_evaluator import *  # noqa: F401,F403
from .evaluate import *  # noqa: F401,F403
from .feature_statistics import *  # noqa: F401,F403
from .linear_probe import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
from .nn_retrieval import *  # noqa: F401,F403
from .probe_data import *  # noqa: F401,F403
from .sensitivity import *  # noqa: F401,F403
