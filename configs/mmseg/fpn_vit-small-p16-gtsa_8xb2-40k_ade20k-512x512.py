# Semantic FPN on ADE20K with a GTSA-pretrained ViT-S/16: the paper's protocol
# (512x512 crops, 40k iterations, 8 GPUs x 2 images = 16, AdamW lr 6e-5, weight
# decay 0.01, 1500 linear warm-up iterations, then poly decay; blocks 2/5/8/11 made
# into a stride 4-32 pyramid). No layer-wise lr decay (rate 1.0); the constructor
# only keeps weight decay off norms, biases, pos_embed and cls_token.
#
#   bash tools/dist_train.sh configs/mmseg/fpn_vit-small-p16-gtsa_8xb2-40k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<run>/epoch_100.pth
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'

custom_imports = dict(imports=['gtsa_mm'], allow_failed_imports=False)

embed_dims = 384
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',
        img_size=512,  # the 14x14 pos_embed is resized to 32x32 when loaded
        patch_size=16,
        out_indices=(2, 5, 8, 11),
        out_type='featmap',
        final_norm=False,
        drop_path_rate=0.1,
        init_cfg=dict(type='GTSAPretrained', checkpoint=None, use_teacher=False)),
    neck=[
        # stride-16 ViT maps -> strides 4, 8, 16, 32
        dict(
            type='Feature2Pyramid',
            embed_dim=embed_dims,
            rescales=[4, 2, 1, 0.5],
            norm_cfg=norm_cfg),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=256,
            num_outs=4),
    ])

train_dataloader = dict(batch_size=2)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    constructor='ViTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=1.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=1500, end=40000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4000))
