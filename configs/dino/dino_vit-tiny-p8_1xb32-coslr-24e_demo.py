# DINO on the bundled demo data, the baseline of tools/compare.py: the ViT, crops, data,
# optimiser, schedule and runtime of configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py
# (tests/demo/test_schedules.py checks that they agree) with a small DINO head
# (256 hidden, 64 bottleneck, 1024 prototypes). By hand:
#
#   python tools/train.py configs/dino/dino_vit-tiny-p8_1xb32-coslr-24e_demo.py
_base_ = './dino_vit-small-p16_8xb64-amp-coslr-100e_coco.py'

embed_dims = 128
global_size = 64
local_size = 32
max_epochs = 24
warmup_epochs = 2
lr = 1e-4
prototypes = 1024

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=2,
                  feedforward_channels=4 * embed_dims),
        img_size=global_size,
        patch_size=8,
        drop_path_rate=0.),
    head=dict(in_channels=embed_dims, hidden_channels=256, bottleneck_channels=64,
              out_channels=prototypes),
    loss=dict(out_channels=prototypes),
    base_momentum=0.01,  # the GTSA demo's faster teacher: momentum 0.99 -> 1.0
    # gtsa_mm.demo.schedules.dino_schedule(max_epochs)
    teacher_temp_warmup_epochs=7,
    freeze_last_layer_epochs=1)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='GTSAMultiCrop', global_size=global_size, local_size=local_size,
         num_global=2, num_local=4, global_scale=(0.3, 1.0), local_scale=(0.1, 0.3)),
    dict(type='PackInputs', algorithm_keys={{_base_.geometry_keys}}, meta_keys=['img_path']),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    pin_memory=False,
    dataset=dict(data_root='data/demo/pretrain/', pipeline=train_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='PerParameterClipOptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.04),
    clip_grad=dict(type='per_parameter_norm', max_norm=3.0),
    paramwise_cfg=dict(bias_decay_mult=0., flat_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=lr / 100,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=4),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_last=True))
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='DenseProbeHook', data_root='data/demo/ade', interval=4),
]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, diff_rank_seed=False)
