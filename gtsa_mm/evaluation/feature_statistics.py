"""The test loop of the pretraining configs: collapse statistics of a folder's features.

A self-supervised model has no prediction to score, and MMPretrain's
``BaseSelfSupervisor`` answers ``mode='predict'`` with an error, so MMEngine's
``TestLoop`` cannot run it. The pretraining configs still carry a
``test_dataloader`` (its single-image ``pipeline`` is what
``mmpretrain.apis.FeatureExtractor`` reads), and MMEngine's Runner takes a
``test_dataloader`` only together with ``test_cfg`` and ``test_evaluator``. These
two are :class:`FeatureStatisticsLoop` and :class:`FeatureStatisticsMetric`: one
feature per test image from the backbone (``model.extract_feat``: the mean of the
patch map, or the class token), and :func:`~gtsa_mm.evaluation.collapse_statistics`
of all of them, so ``tools/test.py CONFIG CHECKPOINT`` (MMPretrain's, or
``Runner.test()``) tells how spread out a checkpoint's features are on a folder.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from mmpretrain.registry import LOOPS, METRICS
from torch import Tensor

from .collapse import collapse_statistics

__all__ = ['FeatureStatisticsLoop', 'FeatureStatisticsMetric', 'image_features']


def image_features(outputs: Tensor | Sequence[Tensor]) -> Tensor:
    """One ``(N, C)`` feature per image from a backbone's output.

    Args:
        outputs: ``extract_feat``'s result: a tensor or a tuple whose last item
            is used; ``(N, C, h, w)`` maps are averaged over positions,
            ``(N, C)`` features (a class token) are kept.

    Returns:
        Tensor: ``(N, C)`` float features.
    """
    last = outputs if isinstance(outputs, Tensor) else outputs[-1]
    if isinstance(last, (tuple, list)):  # out_type='raw'-like pairs: the first item
        last = last[0]
    if last.dim() == 4:
        return last.float().mean((2, 3))
    if last.dim() == 2:
        return last.float()
    raise ValueError(f'image_features: expected (N, C, h, w) maps or (N, C) features, got '
                     f'{tuple(last.shape)}')


@LOOPS.register_module()
class FeatureStatisticsLoop(TestLoop):
    """MMEngine's ``TestLoop`` with ``extract_feat`` in place of ``predict``.

    Each batch goes through the model's data preprocessor and backbone
    (``model.extract_feat``); the evaluator receives one ``dict(feature=...)`` per
    image (see :func:`image_features`). Hooks are called as in ``TestLoop``.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The test images.
        evaluator (Evaluator | dict | list): Usually
            :class:`FeatureStatisticsMetric`.
        fp16 (bool): Run under autocast. Defaults to False.
    """

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: dict) -> None:
        """Extract the features of one batch and hand them to the evaluator."""
        self.runner.call_hook('before_test_iter', batch_idx=idx, data_batch=data_batch)
        model = self.runner.model.module if is_model_wrapper(self.runner.model) \
            else self.runner.model
        with torch.autocast(model.data_preprocessor.device.type, enabled=self.fp16):
            inputs = model.data_preprocessor(data_batch, False)['inputs']
            features = image_features(model.extract_feat(inputs))
        outputs = [dict(feature=f) for f in features.float().cpu()]
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook('after_test_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)


@METRICS.register_module()
class FeatureStatisticsMetric(BaseMetric):
    """:func:`~gtsa_mm.evaluation.collapse_statistics` of one feature per image.

    Reports ``features/std``, ``std_ratio`` (1 for features spread evenly over the
    sphere, 0 for complete collapse), ``effective_rank``, ``mean_cosine`` and
    ``num_images``.

    Args:
        collect_device (str): Where results of all processes are gathered.
            Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to
            'features'.
    """

    default_prefix = 'features'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each image's feature."""
        for sample in data_samples:
            self.results.append(np.asarray(sample['feature'], dtype=np.float32))

    def compute_metrics(self, results: list) -> dict:
        """The collapse statistics of all kept features."""
        features = torch.from_numpy(np.stack(results))
        return dict(collapse_statistics(features), num_images=len(results))
