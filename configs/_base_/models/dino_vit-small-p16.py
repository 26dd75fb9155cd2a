# DINO with a ViT-S/16 student, the baseline GTSA is compared against.
model = dict(
    type='DINO',
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
        out_type='cls_token',
        final_norm=True,
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]),
    head=dict(type='DINOProjectionHead', in_channels=384, hidden_channels=2048,
              bottleneck_channels=256, out_channels=65536, norm_last_layer=True),
    loss=dict(type='DINOLoss', out_channels=65536, student_temp=0.1, center_momentum=0.9),
    num_global=2,
    base_momentum=0.004,
    end_momentum=0.,
    teacher_temp=0.07,
    warmup_teacher_temp=0.04,
    teacher_temp_warmup_epochs=30,
    freeze_last_layer_epochs=1)
