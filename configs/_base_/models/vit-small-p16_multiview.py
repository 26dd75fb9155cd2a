# The ViT-S/16 student shared by GTSA and DINO (mmpretrain arch 'deit-small': 384 dims,
# 12 blocks, 6 heads, qkv bias, LN eps 1e-6) and the multi-view data preprocessor; the
# method bases (gtsa_vit-small-p16.py, dino_vit-small-p16.py) add the model type, the
# backbone's out_type and the heads.
model = dict(
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
        final_norm=True,
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]))
