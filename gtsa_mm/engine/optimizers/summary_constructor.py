"""MMEngine's default optimizer constructor with one log line per kind of notice.

``DefaultOptimWrapperConstructor`` logs one line per parameter: a warning for every frozen
parameter it leaves out (``target_net.module.0.layers.3.ffn.layers.0.0.weight is skipped
since its requires_grad=False``: the EMA teacher of GTSA and DINO, 60 tensors for the demo
ViT) and one ``paramwise_options -- NAME:weight_decay=0.0`` line for every parameter a
``paramwise_cfg`` rule touches (the biases and 1-D parameters). This constructor builds the
same optimizer and logs what those lines say in one line each.
"""
from __future__ import annotations

import logging
import re
from collections import Counter

from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

__all__ = ['PerParameterNotices', 'SummaryOptimWrapperConstructor']

_SKIPPED = re.compile(r'(?P<name>\S+) is skipped since its requires_grad=False$')
_PARAMWISE = re.compile(r'paramwise_options -- (?P<name>[^:]+):(?P<key>\w+)=(?P<value>.*)$')


class PerParameterNotices(logging.Filter):
    """A logging filter that keeps the constructor's per-parameter lines out of the log and
    remembers them: ``frozen`` names and ``options`` (name, key, value) triples."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen: list[str] = []
        self.options: list[tuple[str, str, str]] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        skipped = _SKIPPED.match(message)
        if skipped:
            self.frozen.append(skipped['name'])
            return False
        option = _PARAMWISE.match(message)
        if option:
            self.options.append((option['name'], option['key'], option['value']))
            return False
        return True

    def summary(self, num_groups: int) -> list[str]:
        """One line for the frozen parameters and one for the ``paramwise_cfg`` settings,
        each only if there were any; ``num_groups``: the optimizer's parameter groups."""
        lines = []
        if self.frozen:
            modules = Counter(name.split('.', 1)[0] for name in self.frozen)
            where = ', '.join(f'{module} ({count})' for module, count in modules.items())
            lines.append(f'optimizer: {len(self.frozen)} frozen parameter tensors left out '
                         f'(requires_grad=False): {where}')
        if self.options:
            settings = Counter((key, value) for _, key, value in self.options)
            shown = ', '.join(f'{key}={value} on {count}'
                              for (key, value), count in settings.items())
            touched = len({name for name, _, _ in self.options})
            lines.append(f'optimizer: paramwise_cfg changed {touched} of {num_groups} '
                         f'parameter tensors: {shown} (first: {self.options[0][0]})')
        return lines


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SummaryOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor``, with its per-parameter log lines summarised.

    Same arguments and the same optimizer (one parameter group per trainable tensor
    under a ``paramwise_cfg``); the lines for frozen parameters and for each
    ``paramwise_cfg`` setting become one line each (:class:`PerParameterNotices`).
    Registered in MMEngine's root registry, so any toolbox's config finds it::

        optim_wrapper = dict(
            optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.04),
            constructor='SummaryOptimWrapperConstructor',
            paramwise_cfg=dict(bias_decay_mult=0., flat_decay_mult=0.))
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        logger = MMLogger.get_current_instance()
        notices = PerParameterNotices()
        logger.addFilter(notices)
        try:
            optim_wrapper = super().__call__(model)
        finally:
            logger.removeFilter(notices)
        for line in notices.summary(len(optim_wrapper.optimizer.param_groups)):
            print_log(line, logger='current')
        return optim_wrapper
