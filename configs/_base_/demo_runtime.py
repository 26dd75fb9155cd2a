# The demo's runtime: the pretraining runtime with frequent logs, one checkpoint at the
# end of the 24 epochs, gloo and dense probes of the demo's labelled scenes.
_base_ = './pretrain_runtime.py'

default_hooks = dict(
    logger=dict(interval=4),
    checkpoint=dict(interval=24, max_keep_ckpts=1, save_last=True))
# Dense probes of the student and the EMA teacher on the demo's labelled scenes before
# training and every 4 epochs: linear and nearest-neighbour segmentation mIoU, position and
# rotation probes, collapse monitor (docs/evaluation.md); 3-4 s a call on one CPU core.
# The probe set is the config's probe_data_root (datasets/demo_scenes.py); None: no probes.
# The list replaces pretrain_runtime.py's, so it names its hooks again (NonFiniteLossHook,
# PreemptionHook) before adding the probes.
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='PreemptionHook'),
    dict(type='DenseProbeHook', interval=4),
]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, diff_rank_seed=False)
