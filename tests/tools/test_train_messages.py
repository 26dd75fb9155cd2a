"""What a user reads from tools/train.py: no stack deprecation notices they cannot act on,
and a non-finite loss ends the run with its message and exit code 1, not a traceback."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import pytest
from gtsa_test_utils import TOOL_TIMEOUT_S
from pretrain_helpers import REPO, tiny_pretrain_cfg, write_images

from gtsa_mm.stack_warnings import StackDeprecationFilter, quiet_stack_deprecations

NOTICES = ('pkg_resources is deprecated', '"FileClient" will be deprecated',
           '"HardDiskBackend" is the alias')


def run_train(tmp_path, **model_overrides):
    cfg = tiny_pretrain_cfg(tmp_path / 'work', write_images(tmp_path / 'images', 4),
                            max_epochs=1, **model_overrides)
    cfg.log_level = 'INFO'
    config = tmp_path / 'tiny_gtsa.py'
    cfg.dump(str(config))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, str(REPO / 'tools/train.py'), str(config)],
                          capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, cwd=tmp_path,
                          env=env)


def test_filter_drops_only_the_listed_notices():
    logger = quiet_stack_deprecations(logging.getLogger('gtsa_mm_test_filter'))
    quiet_stack_deprecations(logger)
    assert sum(isinstance(f, StackDeprecationFilter) for f in logger.filters) == 1
    record = lambda msg, level=logging.WARNING: logging.LogRecord(  # noqa: E731
        'mmengine', level, __file__, 1, msg, None, None)
    assert not logger.filter(record('"FileClient" will be deprecated in future. Please use'))
    assert not logger.filter(record('"HardDiskBackend" is the alias of "LocalBackend" and'))
    assert logger.filter(record('"FileClient" will be deprecated', logging.ERROR))
    assert logger.filter(record('The model and loaded state dict do not match exactly'))


def test_import_ignores_the_pkg_resources_notice_only():
    import gtsa_mm  # noqa: F401
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('default')
        from gtsa_mm.stack_warnings import filter_python_warnings
        filter_python_warnings()
        warnings.warn('pkg_resources is deprecated as an API. See', UserWarning, stacklevel=1)
        warnings.warn('something else is deprecated', UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ['something else is deprecated']


@pytest.mark.slow
def test_a_training_log_has_no_stack_deprecation_notices(tmp_path):
    out = run_train(tmp_path)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    text = out.stdout + out.stderr
    assert 'Epoch(train) [1][1/1]' in text  # the log is there, at INFO
    for notice in NOTICES:
        assert notice not in text, notice


@pytest.mark.slow
def test_a_nonfinite_loss_exits_with_its_message_and_no_traceback(tmp_path):
    # std 0: the normalised images are inf, the first loss is NaN
    out = run_train(tmp_path, data_preprocessor=dict(
        type='MultiViewDataPreprocessor', mean=[0.] * 3, std=[0.] * 3, to_rgb=True))
    assert out.returncode == 1, (out.stdout + out.stderr)[-4000:]
    text = out.stdout + out.stderr
    assert 'Non-finite loss at iteration 1 (epoch 1, batch 1 of the epoch)' in text
    assert 'No checkpoint had been saved yet' in text
    assert '--cfg-options optim_wrapper.optimizer.lr=<lower>' in text
    assert 'Traceback' not in text, text[-3000:]
