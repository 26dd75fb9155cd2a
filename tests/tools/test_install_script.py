"""tools/install.sh: valid bash, and its log filter drops only what is expected."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FILTER = REPO / 'tools' / 'install_log_filter.awk'


def setuptools_warning() -> str:
    """A real setuptools deprecation warning, as a build prints it (stderr)."""
    code = ('from setuptools.warnings import SetuptoolsDeprecationWarning as W\n'
            'def finalize():\n'
            '    W.emit("License classifiers are deprecated.", "Please consider removing '
            'the following classifiers:\\n\\nLicense :: OSI Approved", due_date=(2026, 2, 18))\n'
            'finalize()\n')
    script = Path(__file__).with_name('_emit_setuptools_warning.py')
    try:
        script.write_text(code)
        err = subprocess.run([sys.executable, str(script)], capture_output=True,
                             text=True).stderr
    finally:
        script.unlink()
    assert 'SetuptoolsDeprecationWarning' in err and err.count('!!') == 2
    return err


def run_filter(text: str) -> str:
    return subprocess.run(['awk', '-f', str(FILTER)], input=text, capture_output=True,
                          text=True, check=True).stdout


def test_install_script_is_valid_bash():
    subprocess.run(['bash', '-n', str(REPO / 'tools' / 'install.sh')], check=True)


def test_filter_drops_build_tool_warnings_and_the_expected_resolver_error():
    log = '\n'.join([
        'Collecting mmcv==2.1.0',
        setuptools_warning().rstrip('\n'),
        "WARNING: Location 'file:///opt/simple/werkzeug/' is ignored: it is neither a file "
        'nor a directory.',
        '/venv/lib/python3.11/site-packages/mmengine/utils/package_utils.py:17: UserWarning: '
        'pkg_resources is deprecated as an API. See https://setuptools.pypa.io.',
        '  import pkg_resources',
        'Successfully built mmcv',
        "ERROR: pip's dependency resolver does not currently take into account all the "
        'packages that are installed. This behaviour is the source of the following '
        'dependency conflicts.',
        'openmim 0.3.9 requires opendatalab, which is not installed.',
        'Installing collected packages: gtsa_mm',
    ]) + '\n'
    out = run_filter(log).splitlines()
    assert out == [
        'Collecting mmcv==2.1.0',
        'Successfully built mmcv',
        "(pip notes that openmim's dependency opendatalab is not installed: left out on "
        'purpose, it downgrades setuptools; mim train/test do not need it)',
        'Installing collected packages: gtsa_mm',
    ]


def test_filter_keeps_other_conflicts_and_warnings():
    log = '\n'.join([
        "ERROR: pip's dependency resolver does not currently take into account all the "
        'packages that are installed. This behaviour is the source of the following '
        'dependency conflicts.',
        'openmim 0.3.9 requires opendatalab, which is not installed.',
        'mmdet 3.3.0 requires mmcv<2.2.0,>=2.0.0rc4, but you have mmcv 2.2.0 which is '
        'incompatible.',
        'x.py:3: UserWarning: something a user should see',
        '  warn()',
        'ERROR: Could not build wheels for mmcv',
    ]) + '\n'
    out = run_filter(log).splitlines()
    assert out[0].startswith("(pip notes that openmim's dependency opendatalab")
    assert out[1].startswith("ERROR: pip's dependency resolver")
    assert out[2].startswith('mmdet 3.3.0 requires mmcv')
    assert out[3:] == ['x.py:3: UserWarning: something a user should see', '  warn()',
                       'ERROR: Could not build wheels for mmcv']


def test_filter_explains_mmcv_before_mmengine():
    """Step 3 installs mmcv without its dependencies; mmengine comes in step 4."""
    log = '\n'.join([
        "ERROR: pip's dependency resolver does not currently take into account all the "
        'packages that are installed. This behaviour is the source of the following '
        'dependency conflicts.',
        'mmcv 2.1.0 requires mmengine>=0.3.0, which is not installed.',
        'Successfully installed addict-2.4.0',
    ]) + '\n'
    assert run_filter(log).splitlines() == [
        '(pip notes that mmcv needs mmengine: expected here, step 4 installs it)',
        'Successfully installed addict-2.4.0',
    ]
