# Mask R-CNN + FPN on COCO with a GTSA-pretrained ViT-S/16: the paper's 1x protocol
# (12 epochs, lr steps after epochs 8 and 11, AdamW lr 5e-5, weight decay 0.05,
# 8 images per step = 8 GPUs x 1 image, multi-scale training, features of blocks
# 3/5/7/11 made into a stride 4-32 pyramid).
#
#   bash tools/dist_train.sh configs/mmdet/mask-rcnn_vit-small-p16-gtsa_fpn_1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<run>/epoch_100.pth
#
# Add model.backbone.init_cfg.use_teacher=True to start from the EMA teacher.
# Leaving the checkpoint unset (None) stops training with an error; set
# model.backbone.init_cfg=None to train from random initialisation on purpose.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['gtsa_mm'], allow_failed_imports=False)

embed_dims = 384
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',
        img_size=224,  # pos_embed stays 14x14 and is interpolated to each input
        patch_size=16,
        out_indices=(3, 5, 7, 11),
        out_type='featmap',
        final_norm=False,
        drop_path_rate=0.1,
        init_cfg=dict(type='GTSAPretrained', checkpoint=None, use_teacher=False)),
    neck=[
        # stride-16 ViT maps -> strides 4, 8, 16, 32
        dict(
            type='mmseg.Feature2Pyramid',
            embed_dim=embed_dims,
            rescales=[4, 2, 1, 0.5],
            norm_cfg=norm_cfg),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=256,
            num_outs=5),
    ])

# multi-scale training: shorter side 480-800 (step 32), longer side <= 1333
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, short) for short in range(480, 801, 32)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='ViTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))

# 12 epochs, warm-up over 500 iterations, lr x0.1 after epochs 8 and 11
# (train_cfg and param_scheduler of mmdet's schedule_1x).
auto_scale_lr = dict(enable=False, base_batch_size=8)
