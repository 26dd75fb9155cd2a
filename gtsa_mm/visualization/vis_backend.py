"""TensorBoard logging that a config can always name, installed or not."""
from __future__ import annotations

import importlib.util
import logging

from mmengine.logging import print_log
from mmengine.visualization import TensorboardVisBackend
from mmpretrain.registry import VISBACKENDS

__all__ = ['OptionalTensorboardVisBackend', 'tensorboard_available']

INSTALL_HINT = ('TensorBoard logging is off: tensorboard is not installed. '
                '`pip install tensorboard` (or gtsa_mm[tensorboard]) turns it on; the '
                'scalars still go to vis_data/scalars.json (LocalVisBackend).')


def tensorboard_available() -> bool:
    """Whether ``torch.utils.tensorboard`` can find the tensorboard package."""
    return importlib.util.find_spec('tensorboard') is not None


@VISBACKENDS.register_module()
class OptionalTensorboardVisBackend(TensorboardVisBackend):
    """MMEngine's :class:`~mmengine.visualization.TensorboardVisBackend` when
    tensorboard is installed; otherwise one warning saying how to turn it on, and
    every call does nothing.

    The shipped pretraining configs list it beside ``LocalVisBackend``
    (``configs/_base_/default_runtime.py``): every scalar MMEngine's ``LoggerHook``
    logs (``loss``, each loss term, ``lr``, ``grad_norm``, times) and every number of
    ``DenseProbeHook`` (``dense_probe/<student|teacher>/<key>``) is written to
    ``<work_dir>/<timestamp>/vis_data/`` as TensorBoard events, read with
    ``tensorboard --logdir work_dirs``.

    Args:
        save_dir (str): Folder of the event files (the Visualizer passes
            ``<work_dir>/<timestamp>/vis_data``).
    """

    def __init__(self, save_dir: str) -> None:
        super().__init__(save_dir)
        self.enabled = tensorboard_available()
        if not self.enabled:
            print_log(INSTALL_HINT, logger='current', level=logging.WARNING)

    def _init_env(self) -> None:
        try:
            super()._init_env()
        except ImportError as error:  # installed, yet torch cannot import it
            self.enabled = False
            print_log(f'{INSTALL_HINT} ({error})', logger='current', level=logging.WARNING)

    def add_config(self, config, **kwargs) -> None:
        if self.enabled:
            super().add_config(config, **kwargs)

    def add_image(self, name, image, step: int = 0, **kwargs) -> None:
        if self.enabled:
            super().add_image(name, image, step, **kwargs)

    def add_scalar(self, name, value, step: int = 0, **kwargs) -> None:
        if self.enabled:
            super().add_scalar(name, value, step, **kwargs)

    def add_scalars(self, scalar_dict: dict, step: int = 0, file_path=None, **kwargs) -> None:
        if self.enabled:
            super().add_scalars(scalar_dict, step, file_path, **kwargs)
