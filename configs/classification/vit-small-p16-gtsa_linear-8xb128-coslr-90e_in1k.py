# Linear probe of a GTSA-pretrained ViT-S/16 on ImageNet-1k: frozen backbone,
# average of the final-norm patch tokens (GTSA never trains the class token),
# BatchNorm without affine, then a linear layer (MAE's protocol: LARS lr 0.1 per 256
# images, no weight decay, 10 warm-up epochs, cosine to 0 at epoch 90).
#
#   bash tools/dist_train.sh configs/classification/vit-small-p16-gtsa_linear-8xb128-coslr-90e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<run>/epoch_100.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['gtsa_mm'], allow_failed_imports=False)

train_dataloader = dict(batch_size=128, drop_last=True)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='featmap',
        final_norm=True,
        frozen_stages=12,  # everything, including the final norm
        init_cfg=dict(type='GTSAPretrained', checkpoint=None, use_teacher=False)),
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='ClsBatchNormNeck', input_features=384),
    ],
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='CrossEntropyLoss'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.01)))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=0.1 * 1024 / 256, weight_decay=0.0, momentum=0.9))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=80, eta_min=0.0, by_epoch=True, begin=10, end=90,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=1024)
