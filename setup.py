"""Ship configs/, tools/ and model-index.yml inside the wheel as ``gtsa_mm/.mim/``.

This is where OpenMMLab packages keep them: MMEngine resolves
``_base_ = 'gtsa_mm::gtsa/CONFIG.py'`` to ``<installed gtsa_mm>/.mim/configs/gtsa/CONFIG.py``
and ``mim train gtsa_mm CONFIG`` runs ``<installed gtsa_mm>/.mim/tools/train.py``.
The copies are made into the build directory only, so the repository holds one
copy of each file. An editable install maps ``gtsa_mm`` to the repository, where
tools and configs are used by their repository paths: MMEngine and OpenMIM look for
``.mim/`` under the folder of the package's pip metadata, which pip's editable
install (PEP 660) leaves in site-packages, and a ``site-packages/gtsa_mm/.mim/``
folder would make ``import gtsa_mm`` find an empty namespace package there instead
of the repository (setuptools' editable import hook comes after the path search), so
``.mim`` links such as MMDetection's ``setup.py develop`` made would not be found.
Everything else about the package is in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
MIM_ENTRIES = ('configs', 'tools', 'model-index.yml')
#: The repository's lab tools, which import gtsa_mm_lab (not in the wheel): left out of .mim/tools.
LAB_TOOLS = ('demo.py', 'compare.py', 'benchmark.py', 'make_demo_data.py', 'probe_curves.py',
             'diagnose_detector.py',
             'study_gpu.sh', 'benchmark_gpu.sh', 'benchmark_ddp_gpu.sh')
IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc', *LAB_TOOLS)


class BuildPyWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_ENTRIES` to ``gtsa_mm/.mim/``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        mim = Path(self.build_lib, 'gtsa_mm', '.mim')
        for name in MIM_ENTRIES:
            source, target = ROOT / name, mim / name
            if not source.exists():
                raise FileNotFoundError(f'setup.py: {source} is missing; the wheel ships it '
                                        'as gtsa_mm/.mim/' + name)
            if target.is_dir():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=IGNORE)
            else:
                shutil.copy2(source, target)


setup(cmdclass={'build_py': BuildPyWithMim})
