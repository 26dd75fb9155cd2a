# Mask R-CNN + FPN on the bundled demo data (tools/make_demo_data.py: 128 train / 32 val
# scenes of 256 px, 8 classes) with the backbone of
# configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py, sized for a 2-core CPU: the
# shipped COCO config with that ViT (stride 8, blocks 0-3 -> strides 4-32), 64-channel
# FPN and heads, 2 mask convs, fewer proposals and RoIs, images scaled to 160-224 px,
# batch 4, 4 epochs (128 iterations). At this budget neither init detects (box mAP about
# 0.001; 8 and 24 epochs did no better, docs/demo.md), so the stage shows that the
# pretraining checkpoint trains and evaluates in MMDetection at the least cost.
# tools/demo.py runs it; by hand:
#
#   python tools/train.py configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/demo/pretrain/epoch_24.pth
#
# model.backbone.init_cfg=None trains the same model from random initialisation. The data
# folder is read when the config is loaded: `GTSA_DEMO_DATA=/elsewhere python tools/train.py
# ...` (or MMDetection's tools/train.py) reads <GTSA_DEMO_DATA>/coco instead of
# data/demo/coco, for the datasets and the evaluators alike (`--cfg-options data_root=...`
# would change the variable only, not the paths made from it).
_base_ = './mask-rcnn_vit-small-p16-gtsa_fpn_1x_coco.py'

# the label order of data/demo/meta.json (tests/tools/test_demo.py checks it)
classes = ('striped_disc', 'checkered_square', 'dotted_triangle', 'star', 'ringed_ellipse',
           'dotted_hexagon', 'wavy_cross', 'ring')
metainfo = dict(classes=classes)
# the demo data's COCO split; GTSA_DEMO_DATA=/elsewhere (environment) moves every path below
data_root = '{{$GTSA_DEMO_DATA:data/demo}}/coco/'
embed_dims = 128
channels = 64
image_size = 192  # the 256 px scenes are scaled down: a third of the compute
max_epochs = 4
# On one batch the full model fits (RoI classifier accuracy 94 % after 115 iterations) at
# 2e-4; at 5e-4 it does not (docs/demo.md); 2e-3 diverged.
lr = 2e-4
norm_cfg = dict(type='SyncBN', requires_grad=True)  # plain BN when not distributed

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=2,
                  feedforward_channels=4 * embed_dims),
        img_size=64,  # the pretraining crops; pos_embed is interpolated to each input
        patch_size=8,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.,
        # the EMA teacher: after a short pretraining it is the better backbone (docs/demo.md)
        init_cfg=dict(use_teacher=True)),
    neck=[
        # stride-8 ViT maps -> strides 4, 8, 16, 32
        dict(type='mmseg.Feature2Pyramid', embed_dim=embed_dims, rescales=[2, 1, 0.5, 0.25],
             norm_cfg=norm_cfg),
        dict(type='FPN', in_channels=[embed_dims] * 4, out_channels=channels, num_outs=5),
    ],
    rpn_head=dict(
        in_channels=channels,
        feat_channels=channels,
        # objects are 16-55 px (5-95 %): anchors of 16-256 px
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, fc_out_channels=256, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(num_convs=2, in_channels=channels, conv_out_channels=channels,
                       num_classes=len(classes))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(max_per_img=50)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize', scales=[(2 * image_size, short) for short in
                                            (image_size - 32, image_size, image_size + 32)],
         keep_ratio=True),
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
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json',
                     metric=['bbox', 'segm'])
test_evaluator = val_evaluator

# AdamW and layer decay as shipped, a larger lr for a short run at batch 4:
# 50 warm-up iterations, lr x0.1 for the last epoch
optim_wrapper = dict(optimizer=dict(lr=lr), paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs * 3 // 4], gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=8),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
