# vit-gtsa_fpn-bn_adamw5e-4_8e.py for 64 epochs (2048 iterations), evaluated every 16.
_base_ = './vit-gtsa_fpn-bn_adamw5e-4_8e.py'
max_epochs = 64
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs * 3 // 4], gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=16)
default_hooks = dict(checkpoint=dict(interval=16, max_keep_ckpts=1))
