# MMPretrain's runtime settings, with TensorBoard beside the local scalars file:
# OptionalTensorboardVisBackend writes events when tensorboard is installed and otherwise
# says once how to turn it on (`pip install tensorboard`). Read with
# `tensorboard --logdir work_dirs`.
_base_ = 'mmpretrain::_base_/default_runtime.py'

visualizer = dict(
    type='UniversalVisualizer',
    vis_backends=[dict(type='LocalVisBackend'), dict(type='OptionalTensorboardVisBackend')])
