# The runtime of the pretraining configs (GTSA and DINO): MMPretrain's default runtime with
# TensorBoard, atomic checkpoints, exact resumes, non-finite-loss stops and preemption.
_base_ = './default_runtime.py'

custom_imports = dict(imports=['gtsa_mm'], allow_failed_imports=False)

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
