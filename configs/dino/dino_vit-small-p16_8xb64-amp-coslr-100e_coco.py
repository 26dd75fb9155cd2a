# DINO baseline with GTSA's data, crops, schedule and optimiser: only the method differs
# from configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py.
_base_ = [
    '../_base_/models/dino_vit-small-p16.py',
    '../_base_/datasets/gtsa_imagefolder.py',
    '../_base_/schedules/gtsa_adamw-coslr-100e.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['gtsa_mm'], allow_failed_imports=False)

train_dataloader = dict(dataset=dict(data_root='data/coco/train2017/'))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # written to a temporary file and renamed: a crash never leaves a truncated checkpoint
    checkpoint=dict(type='AtomicCheckpointHook', interval=10, max_keep_ckpts=3, save_last=True),
    # sets the sampler's epoch; --resume continues exactly, also from mid-epoch checkpoints
    sampler_seed=dict(type='ExactResumeHook'))
# stop with a clear message (and no checkpoint of the bad step) on a NaN/inf loss
# on SIGTERM / SIGUSR1 (preemption): finish the iteration, save it, stop (docs/reliability.md)
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='PreemptionHook')]
randomness = dict(seed=0, diff_rank_seed=True)
# crops have fixed sizes (224 / 96 px): let cuDNN time its convolution kernels once
env_cfg = dict(cudnn_benchmark=True)
