# Fine-tuning a GTSA-pretrained ViT-S/16 on iNaturalist 2019 (1010 classes): the
# paper's recipe is 300 epochs with layer-wise lr decay 0.65; the rest follows
# MMPretrain's DeiT/MAE fine-tuning (AdamW lr 5e-4 per 512 images, weight decay
# 0.05, 5 warm-up epochs then cosine, RandAugment, RandomErasing, Mixup/CutMix,
# label smoothing, drop path 0.1). GTSA never trains the class token, so the
# head reads the average of the (final-norm) patch tokens, as in pretraining.
#
# Data: data/inat2019/{train_val2019/...} with list files meta/train.txt and
# meta/val.txt of lines "<image path relative to data/inat2019> <class id>"
# (made from the challenge's train2019.json / val2019.json).
#
#   bash tools/dist_train.sh configs/classification/vit-small-p16-gtsa_8xb64-coslr-300e_inat2019.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<run>/epoch_100.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['gtsa_mm'], allow_failed_imports=False)

num_classes = 1010
data_root = 'data/inat2019'
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(
    batch_size=64,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=64,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='featmap',
        final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='GTSAPretrained', checkpoint=None, use_teacher=False)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05, betas=(0.9, 0.999)),
    constructor='ViTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.65),
    clip_grad=dict(max_norm=5.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=5, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=10)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=512)
