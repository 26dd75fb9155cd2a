# BN in the FPN (vit-gtsa_fpn-bn_4e.py), the scenes at twice the demo's scale (shorter side
# 320-448 px in training, 384 px in testing: objects 2-8 tokens wide instead of 1-4),
# training on 192 px crops (the demo's cost per iteration), 8 epochs.
_base_ = './vit-gtsa_fpn-bn_4e.py'
image_size = 384
crop = 192
max_epochs = 8
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize', scales=[(2 * image_size, short) for short in
                                            (image_size - 64, image_size, image_size + 64)],
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(crop, crop), allow_negative_crop=False,
         recompute_bbox=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(4, 4), keep_empty=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2 * image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs * 3 // 4], gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
