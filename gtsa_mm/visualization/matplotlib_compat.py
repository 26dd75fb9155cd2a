"""MMPretrain 1.2.0's dataset browser on the pinned matplotlib.

``tools/visualization/browse_dataset.py`` of MMPretrain 1.2.0 (``-m transformed``,
``concat`` and ``pipeline``) trims its figure with ``adjust_bbox(figure, bbox)`` from
``matplotlib._tight_bbox``, which it imports by name before it reads the config.
Matplotlib 3.11 (pinned here) takes the renderer as a third, required argument, so the
browser stops with ``TypeError: adjust_bbox() missing 1 required positional argument:
'renderer'``. :func:`patch_matplotlib_adjust_bbox`, called when ``gtsa_mm`` is imported
(the configs import it through ``custom_imports``), gives that argument the default
``None`` on the function object itself, so names imported earlier see it too. The
renderer is only handed to axes locators, which the browser's figures do not have;
matplotlib releases before the argument existed passed ``None`` there. Calls that pass a
renderer (``Figure.savefig``'s) are unchanged, and a matplotlib whose ``adjust_bbox``
has no required renderer is left alone.
"""
from __future__ import annotations

import inspect

__all__ = ['patch_matplotlib_adjust_bbox']


def patch_matplotlib_adjust_bbox() -> bool:
    """Let ``matplotlib._tight_bbox.adjust_bbox(fig, bbox_inches)`` be called without a
    renderer (it defaults to None).

    Returns:
        bool: Whether the default was added now (False when matplotlib is missing,
        the renderer is already optional, or the signature is not the expected one).
    """
    try:
        from matplotlib import _tight_bbox
    except ImportError:
        return False
    function = _tight_bbox.adjust_bbox
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    names = [p.name for p in parameters]
    if 'renderer' not in names:
        return False
    defaults = function.__defaults__ or ()
    # renderer must be the last parameter without a default: then one more default is it
    if names.index('renderer') != len(parameters) - len(defaults) - 1:
        return False
    function.__defaults__ = (None, *defaults)
    return True
