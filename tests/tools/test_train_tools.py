"""tools/train.py and `mim train mmpretrain` run GTSA pretraining from a config file."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gtsa_test_utils import QUICK_TOOL_TIMEOUT_S, TOOL_TIMEOUT_S
from pretrain_helpers import REPO, tiny_pretrain_cfg, write_images


def test_train_help():
    out = subprocess.run([sys.executable, str(REPO / 'tools/train.py'), '--help'],
                         capture_output=True, text=True, timeout=QUICK_TOOL_TIMEOUT_S)
    assert out.returncode == 0 and '--resume' in out.stdout


def test_train_reports_missing_config(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / 'tools/train.py'),
                          str(tmp_path / 'nope.py')], capture_output=True, text=True,
                         timeout=QUICK_TOOL_TIMEOUT_S)
    assert out.returncode != 0 and 'config file not found' in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize('launcher', ['tools/train.py', 'mim'])
def test_pretraining_from_a_config_file(tmp_path, launcher):
    cfg = tiny_pretrain_cfg(tmp_path / 'work', write_images(tmp_path / 'images', 4),
                            max_epochs=1)
    config = tmp_path / 'tiny_gtsa.py'
    cfg.dump(str(config))
    if launcher == 'mim':
        mim = Path(sys.executable).with_name('mim')
        cmd = [str(mim), 'train', 'mmpretrain', str(config), '--work-dir',
               str(tmp_path / 'work')]
    else:
        cmd = [sys.executable, str(REPO / 'tools/train.py'), str(config), '--work-dir',
               str(tmp_path / 'work')]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, cwd=tmp_path,
                         env=env)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


@pytest.mark.parametrize('flags,dtype,loss_scale', [
    (['--amp'], None, 'dynamic'),
    (['--amp-dtype', 'float16'], 'float16', 'dynamic'),
    # bf16 needs no loss scaling: no GradScaler found-inf sync per step
    (['--amp-dtype', 'bfloat16'], 'bfloat16', dict(enabled=False)),
])
def test_amp_flags_set_the_optim_wrapper(flags, dtype, loss_scale):
    from gtsa_mm.engine import train_cli as train
    config = str(REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py')
    cfg = train.build_config(train.parse_args([config, *flags]))
    # the AMP variant of the config's wrapper: the per-parameter clip rule stays
    assert cfg.optim_wrapper.type == 'PerParameterClipAmpOptimWrapper'
    assert cfg.optim_wrapper.clip_grad.type == 'per_parameter_norm'
    assert cfg.optim_wrapper.get('dtype') == dtype
    assert cfg.optim_wrapper.loss_scale == loss_scale
