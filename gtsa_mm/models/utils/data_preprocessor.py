"""Data preprocessor for multi-view batches, without host-device syncs."""
from __future__ import annotations

import torch
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class MultiViewDataPreprocessor(SelfSupDataPreprocessor):
    """``SelfSupDataPreprocessor`` that moves only the views, and never waits for the GPU.

    Same arguments and outputs (bit for bit) as MMPretrain's
    ``SelfSupDataPreprocessor`` (mean, std, to_rgb, ...). Two things differ:

    - MMEngine's ``cast_data`` moves every tensor of every data sample
      separately: with GTSA's four geometry tensors that is 256 small pageable
      copies per batch of 64, each one a host-device sync (measured: a quarter
      of the step's host time on an H200). Here the data samples stay on the
      CPU; the algorithms batch the fields they need and move them in one copy
      (:func:`gtsa_mm.models.algorithms.gtsa.stack_geometry`).
    - MMPretrain swaps BGR to RGB with ``view[:, [2, 1, 0]]``: the Python list
      becomes a CPU index tensor that is copied to the GPU synchronously, one
      host-device sync per view (10 per GTSA step, seen in the H200 profile as
      ``cudaStreamSynchronize``). Here the swap is ``flip(1)``, the same
      permutation of 3 channels without an index tensor.

    ``non_blocking`` defaults to True: views from a ``pin_memory=True``
    DataLoader are copied asynchronously (pageable memory is copied
    synchronously either way).
    """

    def __init__(self, *args, non_blocking: bool = True, **kwargs) -> None:
        super().__init__(*args, non_blocking=non_blocking, **kwargs)

    def _normalize(self, view: Tensor) -> Tensor:
        if self._channel_conversion:
            if view.dim() < 2 or view.shape[1] != 3:
                raise ValueError(
                    'MultiViewDataPreprocessor: to_rgb=True swaps the 3 channels of BGR '
                    f'images, got views of shape {tuple(view.shape)}; set to_rgb=False in '
                    'model.data_preprocessor for images that are not 3-channel BGR.')
            view = view.flip(1)
        view = view.float()
        if self._enable_normalize:
            view = (view - self.mean) / self.std
        return view

    def forward(self, data: dict, training: bool = False) -> dict:
        """Views to the device as float, RGB, normalised; data samples untouched."""
        inputs = self.cast_data(data['inputs'])
        if isinstance(inputs, torch.Tensor):
            inputs = self._normalize(inputs)
        else:
            inputs = [self._normalize(view) for view in inputs]
        return {'inputs': inputs, 'data_samples': data.get('data_samples')}
