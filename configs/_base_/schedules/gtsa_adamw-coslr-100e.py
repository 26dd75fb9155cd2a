# The paper's optimisation: AdamW, lr 5e-4 x batch / 256 with 10 warm-up epochs and
# cosine decay to 1e-6, weight decay cosine 0.04 -> 0.4 (none on biases / 1-D
# parameters), gradient clipping at 3.0, mixed precision.
# Clipping as the authors' loop does it (DINO's clip_gradients): each parameter tensor's
# gradient norm is clipped to 3.0 on its own (gtsa_mm/engine/optimizers/per_parameter_clip.py),
# after DDP's all-reduce and AMP's unscale. MMEngine's clip of the joint norm of all
# gradients instead: type='AmpOptimWrapper', clip_grad=dict(max_norm=3.0), or on the command
# line `--cfg-options optim_wrapper.clip_grad.type=norm` (the wrapper below understands both).
# `fused=True`: one AdamW kernel for all parameters instead of a dozen multi-tensor
# kernels (the foreach AdamW took 3.8 ms of GPU time per batch-64 step on an H200), and
# with float16 the GradScaler hands it the inf flag instead of reading it on the host.
max_epochs = 100
warmup_epochs = 10
base_lr = 5e-4 * 512 / 256  # 8 GPUs x 64 images

optim_wrapper = dict(
    type='PerParameterClipAmpOptimWrapper',
    dtype='float16',  # 'bfloat16' on GPUs that have it
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.04,
                   fused=True),
    clip_grad=dict(type='per_parameter_norm', max_norm=3.0),
    # MMEngine's default constructor, logging one line where it logs one per parameter
    constructor='SummaryOptimWrapperConstructor',
    paramwise_cfg=dict(bias_decay_mult=0., flat_decay_mult=0.))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# lr above is for a total batch of 512; `--auto-scale-lr` rescales it for others.
auto_scale_lr = dict(base_batch_size=512, enable=False)
