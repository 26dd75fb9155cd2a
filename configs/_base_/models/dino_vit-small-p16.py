# DINO with a ViT-S/16 student, the baseline GTSA is compared against.
_base_ = './vit-small-p16_multiview.py'
model = dict(
    type='DINO',
    backbone=dict(out_type='cls_token'),
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
