# MMPretrain's runtime settings, with TensorBoard beside the local scalars file:
# OptionalTensorboardVisBackend writes events when tensorboard is installed and otherwise
# says once how to turn it on (`pip install tensorboard`). Read with
# `tensorboard --logdir work_dirs`.
_base_ = 'mmpretrain::_base_/default_runtime.py'

# _delete_: replaces MMPretrain's dict with its `_scope_` key, which tools that build the
# visualizer by hand (MMPretrain's browse_dataset.py) pass on as an argument
visualizer = dict(
    _delete_=True,
    type='UniversalVisualizer',
    vis_backends=[dict(type='LocalVisBackend'), dict(type='OptionalTensorboardVisBackend')])
