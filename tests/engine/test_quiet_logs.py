"""Quiet logs: the optimizer constructor's per-parameter lines become one line each, and the
stack's deprecation notices that a run cannot act on stay out of the output."""
from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from gtsa_test_utils import TOOL_TIMEOUT_S

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py'


class Records(logging.Handler):

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _build_with_log(model, optim_wrapper_cfg) -> tuple[object, list[str]]:
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper

    logger = MMLogger.get_instance(f'quiet_logs_{uuid.uuid4().hex}', log_level='INFO')
    records = Records()
    logger.addHandler(records)
    try:
        wrapper = build_optim_wrapper(model, optim_wrapper_cfg)
    finally:
        logger.removeHandler(records)
    return wrapper, records.messages


def _groups(wrapper) -> list[tuple[float, float, int]]:
    return [(g['lr'], g['weight_decay'], sum(p.numel() for p in g['params']))
            for g in wrapper.optimizer.param_groups]


def test_pretraining_optimizer_logs_one_line_per_kind_of_notice(tiny_gtsa):
    from mmengine.config import Config

    model = tiny_gtsa()
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith('target_net.') for n in frozen)  # the EMA teacher
    cfg = Config.fromfile(str(DEMO_CONFIG)).optim_wrapper
    assert cfg.constructor == 'SummaryOptimWrapperConstructor'
    wrapper, messages = _build_with_log(model, cfg)
    default, default_messages = _build_with_log(
        model, dict(cfg, constructor='DefaultOptimWrapperConstructor'))

    assert _groups(wrapper) == _groups(default)  # the same optimizer
    noisy = [m for m in default_messages
             if 'is skipped since' in m or m.startswith('paramwise_options --')]
    assert len(noisy) > len(frozen)  # MMEngine's constructor: a line per parameter
    assert not [m for m in messages
                if 'is skipped since' in m or m.startswith('paramwise_options --')]
    (frozen_line,) = [m for m in messages if 'frozen parameter tensors' in m]
    assert frozen_line.startswith(f'optimizer: {len(frozen)} frozen parameter tensors left out')
    assert f'target_net ({len(frozen)})' in frozen_line
    (paramwise_line,) = [m for m in messages if 'paramwise_cfg changed' in m]
    no_decay = sum(g['weight_decay'] == 0 for g in wrapper.optimizer.param_groups)
    assert (f'paramwise_cfg changed {no_decay} of {len(wrapper.optimizer.param_groups)} '
            f'parameter tensors: weight_decay=0.0 on {no_decay}') in paramwise_line


def test_other_log_lines_pass_while_building():
    from gtsa_mm.engine.optimizers import PerParameterNotices

    notices = PerParameterNotices()
    record = logging.LogRecord('x', logging.WARNING, __file__, 1, 'something else', None, None)
    assert notices.filter(record)
    assert notices.summary(3) == []


@pytest.mark.parametrize('code', [
    # a tool's start: gtsa_mm first, then a config with mmpretrain:: bases
    'import gtsa_mm; from mmengine.config import Config; Config.fromfile(sys.argv[1])',
    # MMSegmentation's ADE20K pipeline passes reduce_zero_label to LoadAnnotations
    "import gtsa_mm; from mmseg.datasets.transforms import LoadAnnotations; "
    "LoadAnnotations(reduce_zero_label=True)",
])
def test_stack_deprecation_warnings_are_not_printed(code):
    result = subprocess.run([sys.executable, '-c', f'import sys; {code}', str(DEMO_CONFIG)],
                            cwd=REPO, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert 'pkg_resources' not in result.stderr and 'will be deprecated' not in result.stderr, \
        result.stderr
