"""Where the shipped configs are, in a repository checkout and in an installed wheel.

A checkout (and an editable install of it) keeps them in ``configs/`` next to the
package; a wheel ships them as ``gtsa_mm/.mim/configs`` (``setup.py``), where MMEngine
also resolves ``_base_ = 'gtsa_mm::gtsa/...'``. Code that names a shipped config finds
it through :func:`configs_dir`, never through the package's parent folder alone.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ['PACKAGE_DIR', 'configs_dir', 'shown_config_path']

#: The folder of the ``gtsa_mm`` package.
PACKAGE_DIR = Path(__file__).resolve().parent


def configs_dir(package_dir: Path | None = None) -> Path:
    """The folder of the shipped configs (holding ``gtsa/``, ``mmdet/``, ``mmseg/``...).

    Args:
        package_dir (Path, optional): The ``gtsa_mm`` package folder. Defaults to
            :data:`PACKAGE_DIR`.

    Returns:
        Path: The repository's ``configs/`` when the package sits in a checkout, else
        the wheel's ``gtsa_mm/.mim/configs``.

    Raises:
        FileNotFoundError: Neither exists.
    """
    package_dir = PACKAGE_DIR if package_dir is None else package_dir
    candidates = (package_dir.parent / 'configs', package_dir / '.mim' / 'configs')
    for candidate in candidates:
        if (candidate / 'gtsa').is_dir():  # ours, not another package's configs/
            return candidate
    raise FileNotFoundError(
        'gtsa_mm: no shipped configs in ' + ' or '.join(str(c) for c in candidates)
        + '; reinstall the package (pip install gtsa_mm, or pip install -e . in a checkout).')


def shown_config_path(path: Path, configs: Path) -> str:
    """How a message names a shipped config: as a user passes it to a tool.

    Args:
        path (Path): A config file under ``configs``.
        configs (Path): The folder of :func:`configs_dir`.

    Returns:
        str: ``configs/mmdet/...`` (relative to the repository root) in a checkout, the
        absolute path in an installed package.
    """
    if configs.parent.name == '.mim':
        return str(path)
    return str(path.relative_to(configs.parent))
