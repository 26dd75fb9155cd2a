# DINO on the bundled demo data, the baseline of tools/compare.py: the ViT, crops, data,
# optimiser, schedule and runtime of configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py
# (tests/demo/test_schedules.py checks that they agree) with a small DINO head
# (256 hidden, 64 bottleneck, 1024 prototypes). By hand:
#
#   python tools/train.py configs/dino/dino_vit-tiny-p8_1xb32-coslr-24e_demo.py
_base_ = ['../_base_/models/dino_vit-small-p16.py', '../_base_/pretrain_demo.py']

embed_dims = 128  # the width of pretrain_demo.py's demo_backbone (used in arithmetic)
prototypes = 1024

model = dict(
    backbone={{_base_.demo_backbone}},
    head=dict(in_channels=embed_dims, hidden_channels=256, bottleneck_channels=64,
              out_channels=prototypes),
    loss=dict(out_channels=prototypes),
    base_momentum=0.01,  # the GTSA demo's faster teacher: momentum 0.99 -> 1.0
    # gtsa_mm_lab.demo.schedules.dino_schedule(max_epochs)
    teacher_temp_warmup_epochs=7,
    freeze_last_layer_epochs=1)
