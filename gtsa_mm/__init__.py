"""gtsa_mm: GTSA self-supervised pretraining as an OpenMMLab (MMPretrain) plugin.

Importing this package registers every component into MMPretrain's registries
(``mmpretrain.registry.MODELS``, ``TRANSFORMS``, ``DATASETS``, ``HOOKS``, ...).
Configs reach it through::

    custom_imports = dict(imports=['gtsa_mm'], allow_failed_imports=False)
"""
__version__ = '0.1.0'

from .stack_warnings import filter_python_warnings  # noqa: E402

filter_python_warnings()  # before the imports below reach pkg_resources

# registers the components; `registry` adds the gtsa_mm scope (`_base_ = 'gtsa_mm::...'`)
from . import datasets, downstream, engine, evaluation, models, registry, visualization  # noqa
from .checkpoint import patch_mmengine_checkpoint_loading  # noqa: E402
from .engine.dataloader_workers import patch_runner_dataloaders  # noqa: E402

patch_mmengine_checkpoint_loading()
patch_runner_dataloaders()  # num_workers=0 works without persistent_workers=False beside it

__all__ = ['__version__', 'datasets', 'downstream', 'engine', 'evaluation', 'models', 'registry',
           'visualization']
