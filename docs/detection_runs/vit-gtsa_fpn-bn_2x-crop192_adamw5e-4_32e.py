# vit-gtsa_fpn-bn_2x-crop192_8e.py with plain AdamW at lr 5e-4 (no layer decay) for 32
# epochs (1024 iterations), evaluated every 8.
_base_ = './vit-gtsa_fpn-bn_2x-crop192_8e.py'
max_epochs = 32
lr = 5e-4
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs * 3 // 4], gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=8)
default_hooks = dict(checkpoint=dict(interval=8, max_keep_ckpts=1))
