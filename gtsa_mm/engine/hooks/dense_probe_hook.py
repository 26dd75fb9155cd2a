"""Dense probes of the backbone while it pretrains: watch quality rise, or collapse."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch import nn

from gtsa_mm.evaluation import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PROBES,
    DenseProbeData,
    DenseProbeSettings,
    evaluate_backbone,
    load_probe_data,
)
from gtsa_mm.models.necks import GTSAProjector

__all__ = ['DenseProbeHook', 'LOG_KEYS', 'PROBE_DATA_ROOT']

#: The top-level config variable that names the probe set when the hook has no data_root.
PROBE_DATA_ROOT = 'probe_data_root'
_UNSET = object()
#: Numbers written on the one log line per backbone (all are sent to the visualizer).
LOG_KEYS = ('linear_mIoU', 'nn_mIoU', 'pos_acc', 'rot_acc', 'feature_effective_rank',
            'feature_std_ratio', 'projector_effective_rank', 'seconds')


@HOOKS.register_module()
class DenseProbeHook(Hook):
    """Run the frozen-backbone dense probes every ``interval`` epochs (or iterations).

    On a labelled probe set (ADE20K / VOC-style image and label folders; the demo
    data's ``ade/`` in the demo config) the student's and the EMA teacher's
    backbones are probed as they are at that moment (see :mod:`gtsa_mm.evaluation`):
    the linear segmentation probe, Hummingbird nearest-neighbour retrieval, the position
    and rotation probes, and the collapse monitor (std of L2-normalised tokens and the
    effective rank of their covariance, for the backbone and, for GTSA, the projector).
    Every number goes to MMEngine's visualizer as ``dense_probe/<student|teacher>/<key>``
    at the current iteration (``vis_data/scalars.json``, TensorBoard when configured)
    and a summary line to the logger. Runs on the main process only; the model is
    left in the mode it was in. Before the first step the teacher is still an
    initialisation of its own: the EMA copies the student at its first update. Such a
    probe says so on its log line (``teacher NOT YET SYNCED``) and records
    ``ema_synced=False`` in :attr:`history`.

    Cost per call: two forward passes over the probe images at ``img_size`` per
    backbone, four more over the rotation crops, closed-form ridge solves and one
    nearest-neighbour search; a few seconds on a CPU at the demo's size
    (``docs/evaluation.md`` has the numbers). The cost is logged as ``seconds``.

    The probe set is the config's top-level ``probe_data_root`` unless the hook is
    given a ``data_root`` of its own, so a config that inherits a shipped one moves it
    with one line (``probe_data_root = 'my/labelled/set'``) or one command-line option
    (``--cfg-options probe_data_root=FOLDER``); ``probe_data_root = None`` trains
    without the probes.

    Args:
        data_root (str, optional): Folder of the probe set
            (``images/{training,validation}``, ``annotations/{training,validation}``
            unless ``data_cfg`` says otherwise). None (default): the config's
            ``probe_data_root``, read when training starts.
        interval (int): Epochs (``by_epoch``) or iterations between probes. The last
            epoch / iteration is always probed.
        by_epoch (bool): Count ``interval`` in epochs. Defaults to True.
        before_train (bool): Probe once before the first iteration too (the
            initialisation; skipped when resuming). Defaults to True.
        backbones (Sequence[str]): ``'student'`` (``model.backbone``) and/or
            ``'teacher'`` (``model.target_net.module[0]``).
        img_size (int, optional): Input side; None: the backbone's ``img_size``.
        probes (Sequence[str]): Subset of ``linear``, ``nn``, ``position``,
            ``rotation``, ``collapse``.
        label_fraction (float): Fraction of labelled training images for the
            segmentation probes. Defaults to 1.
        nn_k, nn_temperature, bank_size, alpha, rot_crop, seed, batch_size: see
            :class:`gtsa_mm.evaluation.DenseProbeSettings`.
        data_cfg (dict, optional): More arguments of
            :func:`gtsa_mm.evaluation.load_probe_data` (folders, suffixes,
            ``num_classes``, ``reduce_zero_label``, ``label_size``, ``max_train``,
            ``max_val``).
    """

    priority = 'LOW'  # after the schedulers, before CheckpointHook (VERY_LOW)

    def __init__(self,
                 data_root: str | None = None,
                 interval: int = 1,
                 by_epoch: bool = True,
                 before_train: bool = True,
                 backbones: Sequence[str] = ('student', 'teacher'),
                 img_size: int | None = None,
                 probes: Sequence[str] = PROBES,
                 label_fraction: float = 1.0,
                 nn_k: int = 30,
                 nn_temperature: float = 0.07,
                 bank_size: int | None = None,
                 alpha: float = 1e-3,
                 rot_crop: float = 0.3,
                 seed: int = 0,
                 batch_size: int = 32,
                 data_cfg: dict | None = None) -> None:
        if interval < 1:
            raise ValueError(f'DenseProbeHook: interval must be >= 1, got {interval}')
        unknown = set(backbones) - {'student', 'teacher'}
        if unknown or not backbones:
            raise ValueError(f"DenseProbeHook: backbones must be 'student' and/or 'teacher', "
                             f'got {list(backbones)}')
        self.data_root = data_root
        self.interval = interval
        self.by_epoch = by_epoch
        self.probe_before_train = before_train
        self.backbones = tuple(backbones)
        self.img_size = img_size
        self.settings = DenseProbeSettings(
            img_size=img_size or 224, probes=tuple(probes), alpha=alpha, nn_k=nn_k,
            nn_temperature=nn_temperature, bank_size=bank_size,
            label_fraction=label_fraction, rot_crop=rot_crop, seed=seed,
            batch_size=batch_size)
        self.data_cfg = dict(data_cfg or {})
        self.data: DenseProbeData | None = None
        self.history: list[dict] = []

    # ------------------------------------------------------------------ setup
    def before_run(self, runner) -> None:
        if not is_main_process():
            return
        if self.data_root is not None:
            data_root = self.data_root
            setting = f'custom_hooks, data_root={data_root!r}'
            fix = 'change data_root of the DenseProbeHook entry in custom_hooks'
        else:
            data_root = runner.cfg.get(PROBE_DATA_ROOT, _UNSET)
            if data_root is _UNSET:
                raise ValueError(
                    f'DenseProbeHook needs a labelled probe set: set {PROBE_DATA_ROOT} in the '
                    f'config (--cfg-options {PROBE_DATA_ROOT}=FOLDER) or data_root in its '
                    'custom_hooks entry')
            if data_root is None:
                runner.logger.info(f'DenseProbeHook: {PROBE_DATA_ROOT}=None, no dense probes')
                return
            setting = f'{PROBE_DATA_ROOT}={data_root!r}'
            fix = (f"set the config's {PROBE_DATA_ROOT} to an ADE20K-style folder "
                   f'(--cfg-options {PROBE_DATA_ROOT}=FOLDER), or {PROBE_DATA_ROOT}=None to '
                   'train without the dense probes')
        try:
            self.data = load_probe_data(data_root, **self.data_cfg)
        except (OSError, ValueError) as error:
            raise type(error)(f'DenseProbeHook ({setting}): {error}; {fix}') from error
        runner.logger.info(
            f'DenseProbeHook: {len(self.data.train_images)} + {len(self.data.val_images)} '
            f'probe images, {self.data.num_classes} classes from {data_root}')

    def _modules(self, runner) -> dict[str, tuple[nn.Module, nn.Module | None]]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        found = {}
        for which in self.backbones:
            if which == 'student':
                backbone, neck = model.backbone, getattr(model, 'neck', None)
            else:
                target = getattr(model, 'target_net', None)
                if target is None:
                    raise AttributeError(f"DenseProbeHook: {type(model).__name__} has no "
                                         "EMA teacher (target_net); use backbones=['student']")
                backbone, neck = target.module[0], target.module[1]
            found[which] = (backbone, neck if isinstance(neck, GTSAProjector) else None)
        return found

    @staticmethod
    def _teacher_synced(runner) -> bool:
        """Whether the EMA teacher has had its first update (a copy of the student)."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        steps = getattr(getattr(model, 'target_net', None), 'steps', None)
        return steps is None or int(steps) > 0

    # ------------------------------------------------------------------ probing
    def probe(self, runner, epochs_done: int | None = None,
              iters_done: int | None = None) -> dict[str, dict]:
        """Probe the configured backbones now; log and return the results.

        The numbers are logged at step ``iters_done`` (default ``runner.iter``).
        """
        if not is_main_process() or self.data is None:
            return {}
        model_cfg = runner.cfg.get('model', {})
        pre = model_cfg.get('data_preprocessor') or {}
        mean = tuple(pre.get('mean', IMAGENET_MEAN))
        std = tuple(pre.get('std', IMAGENET_STD))
        epochs_done = runner.epoch if epochs_done is None else epochs_done
        iters_done = runner.iter if iters_done is None else iters_done
        results, scalars = {}, {}
        for which, (backbone, projector) in self._modules(runner).items():
            settings = self.settings
            if self.img_size is None:
                size = getattr(backbone, 'img_size', None) or (224, 224)
                settings = replace(settings, img_size=int(size[0]))
            result = evaluate_backbone(backbone, self.data, settings, mean, std, projector)
            synced = which != 'teacher' or self._teacher_synced(runner)
            if which == 'teacher':
                result['ema_synced'] = synced
            results[which] = result
            for key, value in result.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    scalars[f'dense_probe/{which}/{key}'] = float(value)
            shown = ', '.join(f'{k}: {result[k]:.4g}' for k in LOG_KEYS
                              if isinstance(result.get(k), float) and math.isfinite(result[k]))
            note = '' if synced else (
                ' [teacher NOT YET SYNCED: the EMA copies the student at its first update, '
                'so these are the numbers of its own random initialisation]')
            runner.logger.info(f'DenseProbe({which}) after {epochs_done} epochs, '
                               f'{iters_done} iterations{note}: {shown}')
        runner.visualizer.add_scalars(scalars, step=iters_done)
        self.history.append(dict(epochs=epochs_done, iter=iters_done, **results))
        return results

    def before_train(self, runner) -> None:
        if self.probe_before_train and runner.iter == 0:
            self.probe(runner)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and (self.every_n_epochs(runner, self.interval)
                              or self.is_last_train_epoch(runner)):
            self.probe(runner, epochs_done=runner.epoch + 1)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.by_epoch and (self.every_n_train_iters(runner, self.interval)
                                  or self.is_last_train_iter(runner)):
            self.probe(runner, iters_done=runner.iter + 1)
