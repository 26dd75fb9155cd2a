# UperNet on the bundled demo data (tools/make_demo_data.py: 128 train / 32 val scenes of
# 256 px, 8 classes, label 0 = background, ignored) with the backbone of
# configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py, sized for a 2-core CPU: the
# shipped ADE20K config with that ViT (stride 8, blocks 0-3 -> strides 4-32), 64-channel
# heads, images scaled to 128 px, batch 4, 600 iterations (about 5 minutes on one core).
# 128 px puts objects at half their size in the data, close to the scale the pretraining
# saw (its 64 px global crops show 140-256 px of a scene: 0.25-0.46 of the size); at 192 px
# the gain of GTSA over random init was smaller (docs/demo.md). tools/demo.py runs it; by hand:
#
#   python tools/train.py configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/demo/pretrain/epoch_24.pth
#
# model.backbone.init_cfg=None trains the same model from random initialisation. The data
# folder is read when the config is loaded: `GTSA_DEMO_DATA=/elsewhere python tools/train.py
# ...` (or MMSegmentation's tools/train.py) reads <GTSA_DEMO_DATA>/ade instead of
# data/demo/ade for every split (`--cfg-options data_root=...` would change the variable
# only, not the datasets made from it).
_base_ = './upernet_vit-small-p16-gtsa_8xb2-160k_ade20k-512x512.py'

# the label order of data/demo/meta.json (tests/tools/test_demo.py checks it)
classes = ('striped_disc', 'checkered_square', 'dotted_triangle', 'star', 'ringed_ellipse',
           'dotted_hexagon', 'wavy_cross', 'ring')
palette = [(205, 45, 40), (40, 70, 200), (45, 165, 65), (210, 50, 45), (140, 60, 170),
           (45, 75, 195), (240, 140, 30), (50, 160, 70)]
metainfo = dict(classes=classes, palette=palette)
# the demo data's ADE20K-style split; GTSA_DEMO_DATA=/elsewhere (environment) moves it
data_root = '{{$GTSA_DEMO_DATA:data/demo}}/ade/'
embed_dims = 128
crop_size = (128, 128)
max_iters = 600
warmup_iters = 50
lr = 1e-3

data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=2,
                  feedforward_channels=4 * embed_dims),
        img_size=crop_size,  # the pretraining pos_embed (8 x 8) is resized to 16 x 16
        patch_size=8,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.,
        # the EMA teacher: after a short pretraining it is the better backbone (docs/demo.md)
        init_cfg=dict(use_teacher=True)),
    # stride-8 ViT maps -> strides 4, 8, 16, 32
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims,
              scales=[2, 1, 0.5, 0.25]),
    # the loss is a mean over labelled pixels: the background, most of each image, is ignored
    decode_head=dict(in_channels=[embed_dims] * 4, channels=64, num_classes=len(classes),
                     loss_decode=dict(avg_non_ignore=True)),
    auxiliary_head=dict(in_channels=embed_dims, channels=32, num_classes=len(classes),
                        loss_decode=dict(avg_non_ignore=True)))

# no PhotoMetricDistortion: object colours are already random in the demo data (generator
# 1.1); on the class-coloured 1.0 data removing it gained 6 mIoU (random init, 200
# iterations), not re-measured on 1.1. LoadAnnotations takes reduce_zero_label from the
# dataset (giving it here as well is deprecated in MMSegmentation).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(512, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 128), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo,
               img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True)
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline,
        **dataset))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        pipeline=test_pipeline,
        **dataset))
test_dataloader = val_dataloader

# AdamW and layer decay as shipped, with a lr for a short run at batch 4
optim_wrapper = dict(optimizer=dict(lr=lr), paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0., power=1.0, by_epoch=False, begin=warmup_iters,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
