"""The ``gtsa_mm`` registry scope that configs inheriting ``'gtsa_mm::...'`` are built in."""
from __future__ import annotations

import logging
import subprocess
import sys

from gtsa_test_utils import QUICK_TOOL_TIMEOUT_S, tiny_gtsa_model_cfg
from mmengine.config import Config
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.logging import MMLogger
from mmengine.registry import MODELS, DefaultScope

import gtsa_mm
from gtsa_mm.registry import drop_collate_fn_scope


def test_mmengine_accepts_the_package_prefix():
    assert MODULE2PACKAGE['gtsa_mm'] == 'gtsa_mm'


def test_a_scoped_model_builds_from_mmpretrains_registry_without_warnings():
    logger = MMLogger.get_current_instance()
    cfg = dict(tiny_gtsa_model_cfg(), _scope_='gtsa_mm')  # as MMEngine tags a pkg:: base
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(cfg)
    finally:
        logger.removeHandler(handler)
    assert type(model).__name__ == 'GTSA'
    assert type(model.backbone).__module__.startswith('mmpretrain.')
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert warnings == []
    assert gtsa_mm.registry.MODELS.parent is MODELS.children["mmpretrain"]


def test_drop_collate_fn_scope():
    cfg = Config(dict(train_dataloader=dict(collate_fn=dict(type='default_collate',
                                                            _scope_='gtsa_mm')),
                      val_dataloader=None))
    drop_collate_fn_scope(cfg)
    assert cfg.train_dataloader.collate_fn == dict(type='default_collate')


def test_a_scoped_lookup_imports_mmpretrains_modules_first():
    """A gtsa_mm-scoped dict of an MMPretrain module builds in a fresh process: the
    ``_scope_='gtsa_mm'`` visualizer of a ``gtsa_mm::`` config, before anything imported
    ``mmpretrain.visualization`` (where ``UniversalVisualizer`` is registered)."""
    code = (
        'import sys\n'
        'import gtsa_mm\n'
        'from gtsa_mm.registry import VISUALIZERS\n'
        "assert 'mmpretrain.visualization' not in sys.modules, 'import order changed'\n"
        "print(VISUALIZERS.get('UniversalVisualizer').__module__)\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=QUICK_TOOL_TIMEOUT_S)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().startswith('mmpretrain.visualization')
