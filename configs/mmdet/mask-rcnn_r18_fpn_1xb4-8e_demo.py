# Reference detector for the demo data: the demo's Mask R-CNN
# (mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py: same data, pipelines, RPN/RoI/mask heads)
# with a ResNet-18 from random initialisation and a 64-channel FPN instead of the ViT and
# its pyramid neck, a plain AdamW at lr 5e-4 (no layer decay), 8 epochs (256 iterations),
# lr x0.1 after epoch 6. It detects (box mAP 0.111, mask mAP 0.098 on 2026-12-02; about
# 4 min on 2 idle CPU threads) where the demo ViT does not (docs/demo.md, "Why Mask R-CNN
# does not detect here"): the data, heads and schedule are learnable.
#
#   python tools/train.py configs/mmdet/mask-rcnn_r18_fpn_1xb4-8e_demo.py
#   python tools/diagnose_detector.py configs/mmdet/mask-rcnn_r18_fpn_1xb4-8e_demo.py \
#       work_dirs/mask-rcnn_r18_fpn_1xb4-8e_demo/epoch_8.pth
_base_ = './mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py'

max_epochs = 8
lr = 5e-4
model = dict(
    backbone=dict(_delete_=True, type='mmdet.ResNet', depth=18, out_indices=(0, 1, 2, 3),
                  norm_cfg=dict(type='BN'), init_cfg=None),
    neck=dict(_delete_=True, type='FPN', in_channels=[64, 128, 256, 512], out_channels=64,
              num_outs=5))
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
