# GTSA, the paper's recipe: ViT-S/16, 8 GPUs x 64 images, 100 epochs, COCO train2017
# images read as an unlabeled folder (annotations are not used).
_base_ = [
    '../_base_/models/gtsa_vit-small-p16.py',
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
# crops have fixed sizes (224 / 96 px): let cuDNN time its kernels for the projector's
# 3x3 convolutions once (its default pick on the H200 was a slow generic kernel)
env_cfg = dict(cudnn_benchmark=True)
