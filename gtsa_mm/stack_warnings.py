"""Silence the stack's deprecation notices that a gtsa_mm user cannot act on.

Each entry is triggered by the toolboxes themselves (MMEngine on a code path every run
takes, MMSegmentation by its own config bases) and names an API that gtsa_mm does not
call:

- ``pkg_resources is deprecated as an API``: setuptools, when MMEngine resolves
  a ``'pkg::...'`` config base (``mmengine.utils.is_installed``);
- ``reduce_zero_label will be deprecated``: MMSegmentation's ``LoadAnnotations``,
  given ``reduce_zero_label`` by MMSegmentation's own ADE20K pipelines, which the
  ADE20K configs inherit (the dataset's ``reduce_zero_label`` decides either way);
- ``"FileClient" will be deprecated`` and ``"HardDiskBackend" is the alias of
  "LocalBackend"``: MMEngine's logger, when its own ``CheckpointHook.before_train``
  builds a FileClient it keeps for backward compatibility.

Only these messages are dropped; every other warning is shown as before.
"""
from __future__ import annotations

import logging
import re
import warnings

__all__ = ['LOGGER_WARNINGS', 'PYTHON_WARNINGS', 'StackDeprecationFilter',
           'filter_python_warnings', 'quiet_stack_deprecations']

#: Python warnings (``warnings.warn``) dropped, by the start of their message.
PYTHON_WARNINGS = (
    r'pkg_resources is deprecated as an API',
    r'`reduce_zero_label` will be deprecated',
)
#: MMEngine logger records (``print_log(..., level=WARNING)``) dropped, by message.
LOGGER_WARNINGS = (
    r'"FileClient" will be deprecated in future',
    r'"HardDiskBackend" is the alias of "LocalBackend"',
)
_LOGGER_PATTERN = re.compile('|'.join(LOGGER_WARNINGS))


def filter_python_warnings() -> None:
    """Ignore :data:`PYTHON_WARNINGS` (called by ``import gtsa_mm``)."""
    for message in PYTHON_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=UserWarning)


class StackDeprecationFilter(logging.Filter):
    """A logging filter that drops the records matching :data:`LOGGER_WARNINGS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING
                    and _LOGGER_PATTERN.match(record.getMessage()))


def quiet_stack_deprecations(logger: logging.Logger) -> logging.Logger:
    """Add :class:`StackDeprecationFilter` to ``logger`` (a Runner's ``runner.logger``)."""
    if not any(isinstance(f, StackDeprecationFilter) for f in logger.filters):
        logger.addFilter(StackDeprecationFilter())
    return logger
