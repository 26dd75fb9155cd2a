# GTSA with a ViT-S/16 student (mmpretrain arch 'deit-small': 384 dims, 12 blocks,
# 6 heads, qkv bias, LN eps 1e-6) and the paper's projector/predictor/rotation head.
model = dict(
    type='GTSA',
    data_preprocessor=dict(
        type='MultiViewDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='featmap',
        final_norm=True,
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]),
    neck=dict(type='GTSAProjector', in_channels=384, out_channels=768, num_blocks=2),
    predictor=dict(type='GTSAPredictor', in_channels=768, hidden_channels=768,
                   out_channels=768),
    rotation_head=dict(type='RotationHead', in_channels=384, hidden_channels=768,
                       bottleneck_channels=128, loss_weight=0.5),
    region_loss=dict(type='RegionLoss', loss_weight=1.0, rotate_target=True),
    patch_loss=dict(type='PatchCorrespondenceLoss', loss_weight=0.5, match_ratio=0.5),
    num_global=2,
    patch_size=16,
    region_sizes=(10, 4),
    target='region',
    base_momentum=0.004,  # teacher momentum 0.996 -> 1.0 (cosine)
    end_momentum=0.,
    # The authors' rule: the patch loss is on when `warmup_epochs < epoch` (0-based epochs,
    # warmup_epochs = 10 as the lr warm-up), so epochs 0..10 have weight 0 and the loss
    # starts at epoch 11: warmup_epochs + 1 = 11 epochs with weight 0.
    patch_loss_warmup_epochs=11)
