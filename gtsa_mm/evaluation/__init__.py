"""Frozen-backbone dense evaluation of ViT checkpoints (GTSA, DINO, random init).

- :func:`linear_segmentation_probe`: a closed-form 1x1 linear probe on patch tokens;
- :func:`nn_retrieval_probe`: dense nearest-neighbour label transfer (Hummingbird);
- :func:`position_probe`, :func:`rotation_probe`: what GTSA is built to keep;
- :func:`collapse_statistics`: std of L2-normalised features and effective rank;
- :func:`evaluate_backbone`: all of them on a :class:`DenseProbeData` set, as used by
  ``DenseProbeHook`` during training and ``tools/evaluate_features.py`` after it.
"""
from .backbones import (
    RANDOM,
    build_probe_backbone,
    default_img_size,
    load_backbone_weights,
    model_config,
    normalisation,
)
from .collapse import collapse_statistics, effective_rank, map_tokens
from .dense_evaluator import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PROBES,
    DenseProbeSettings,
    evaluate_backbone,
    evaluate_backbone_subsets,
    extract_maps,
    patch_token_output,
    to_batch,
)
from .evaluate import COLUMNS, evaluate_checkpoints, json_safe, markdown_table, spread
from .linear_probe import (
    RidgeClassifier,
    linear_segmentation_probe,
    patch_majority_labels,
    standardize,
)
from .metrics import confusion_matrix, segmentation_scores
from .nn_retrieval import (
    build_memory_bank,
    knn_label_transfer,
    nn_retrieval_probe,
    patch_label_distributions,
)
from .probe_data import DenseProbeData, load_probe_data
from .sensitivity import position_probe, random_crops, rotation_probe

__all__ = [
    'COLUMNS', 'IMAGENET_MEAN', 'IMAGENET_STD', 'PROBES', 'RANDOM', 'DenseProbeData',
    'DenseProbeSettings', 'RidgeClassifier',
    'build_memory_bank', 'build_probe_backbone', 'collapse_statistics', 'confusion_matrix',
    'default_img_size', 'effective_rank', 'evaluate_backbone', 'evaluate_backbone_subsets',
    'evaluate_checkpoints',
    'extract_maps', 'json_safe', 'knn_label_transfer', 'linear_segmentation_probe',
    'load_backbone_weights', 'load_probe_data', 'map_tokens', 'markdown_table', 'model_config',
    'nn_retrieval_probe', 'normalisation', 'patch_label_distributions',
    'patch_majority_labels', 'patch_token_output', 'position_probe', 'random_crops',
    'rotation_probe', 'segmentation_scores', 'spread', 'standardize', 'to_batch'
]
