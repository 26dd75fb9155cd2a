# BN in the FPN (vit-gtsa_fpn-bn_4e.py) and the ResNet-18 reference's optimiser and
# schedule (configs/mmdet/mask-rcnn_r18_fpn_1xb4-8e_demo.py): plain AdamW at lr 5e-4,
# no layer decay, 8 epochs.
_base_ = './vit-gtsa_fpn-bn_4e.py'
max_epochs = 8
lr = 5e-4
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs * 3 // 4], gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
