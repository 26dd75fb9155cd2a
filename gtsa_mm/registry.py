"""The ``gtsa_mm`` scope of OpenMMLab's registry tree.

gtsa_mm registers its components into MMPretrain's registries (see
``gtsa_mm/__init__.py``). A config that inherits a shipped one through
``_base_ = 'gtsa_mm::gtsa/...'`` gets ``_scope_='gtsa_mm'`` on its top-level
dicts from MMEngine, which then imports ``gtsa_mm.registry`` and looks for a
registry of that scope. The registries below are empty children of
MMPretrain's: a lookup falls through to MMPretrain (which holds gtsa_mm's and
MMPretrain's modules) and then to MMEngine, as under ``default_scope='mmpretrain'``.

Importing this module also lets MMEngine's ``Config`` accept the ``gtsa_mm::``
prefix: it only resolves packages named in ``MODULE2PACKAGE``.
"""
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

SCOPE = 'gtsa_mm'
MODULE2PACKAGE.setdefault(SCOPE, 'gtsa_mm')  # module name -> pip package name


def _child(parent: Registry) -> Registry:
    # Importing gtsa_mm registers its modules (into the parent registries). A child looks
    # up its parents' modules but never imports the parents' locations, so it imports them
    # itself: MMPretrain's UniversalVisualizer, for one, is registered only once
    # mmpretrain.visualization is imported.
    locations = ['gtsa_mm', *getattr(parent, '_locations', [])]
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=locations)


RUNNERS = _child(mmpretrain_registry.RUNNERS)
RUNNER_CONSTRUCTORS = _child(mmpretrain_registry.RUNNER_CONSTRUCTORS)
LOOPS = _child(mmpretrain_registry.LOOPS)
HOOKS = _child(mmpretrain_registry.HOOKS)
LOG_PROCESSORS = _child(mmpretrain_registry.LOG_PROCESSORS)
OPTIMIZERS = _child(mmpretrain_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child(mmpretrain_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(mmpretrain_registry.PARAM_SCHEDULERS)
DATASETS = _child(mmpretrain_registry.DATASETS)
DATA_SAMPLERS = _child(mmpretrain_registry.DATA_SAMPLERS)
TRANSFORMS = _child(mmpretrain_registry.TRANSFORMS)
MODELS = _child(mmpretrain_registry.MODELS)
MODEL_WRAPPERS = _child(mmpretrain_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(mmpretrain_registry.WEIGHT_INITIALIZERS)
BATCH_AUGMENTS = _child(mmpretrain_registry.BATCH_AUGMENTS)
TASK_UTILS = _child(mmpretrain_registry.TASK_UTILS)
METRICS = _child(mmpretrain_registry.METRICS)
EVALUATORS = _child(mmpretrain_registry.EVALUATORS)
VISUALIZERS = _child(mmpretrain_registry.VISUALIZERS)
VISBACKENDS = _child(mmpretrain_registry.VISBACKENDS)


def drop_collate_fn_scope(cfg) -> None:
    """Remove the ``_scope_`` MMEngine puts on a dataloader's ``collate_fn`` (in place).

    A base loaded as ``'pkg::...'`` has ``_scope_`` added to every outermost dict with a
    ``type``; a dataloader has none, so its ``collate_fn`` gets one. MMEngine's Runner
    registers no scope for functions: it passes the remaining keys to the function, and
    ``default_collate(_scope_=...)`` fails. ``tools/train.py`` calls this after loading.
    """
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        collate_fn = loader.get('collate_fn') if isinstance(loader, dict) else None
        if isinstance(collate_fn, dict):
            collate_fn.pop('_scope_', None)
