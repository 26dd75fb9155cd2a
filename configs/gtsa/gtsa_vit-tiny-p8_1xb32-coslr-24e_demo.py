# GTSA on the bundled demo data (tools/make_demo_data.py: 512 unlabelled scenes of 256 px)
# in about 15 minutes on one CPU core: the paper's recipe and augmentations with a 4-block,
# 128-dim ViT/8 on 2 x 64 px global and 4 x 32 px local crops (8 x 8 and 4 x 4 token
# maps), batch 32, 24 epochs (384 iterations), full precision, one process.
# tools/demo.py runs it; by hand:
#
#   python tools/train.py configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py
_base_ = ['../_base_/models/gtsa_vit-small-p16.py', '../_base_/pretrain_demo.py']

embed_dims = 128  # the width of pretrain_demo.py's demo_backbone (used in arithmetic)
proj_dims = 256

model = dict(
    backbone={{_base_.demo_backbone}},
    neck=dict(in_channels=embed_dims, out_channels=proj_dims),
    head=dict(
        predictor=dict(in_channels=proj_dims, hidden_channels=proj_dims,
                       out_channels=proj_dims),
        rotation_head=dict(in_channels=embed_dims, hidden_channels=2 * embed_dims,
                           bottleneck_channels=64),
        # the authors' rule (on when `warmup_epochs < epoch`, 0-based, warmup_epochs 2 in
        # the schedule): epochs 0, 1, 2 have patch-loss weight 0, the loss starts at epoch 3
        patch_loss=dict(warmup_epochs=3),
        # the paper's 10/14 and 4/6 of the global / local map sides, on 8 x 8 and 4 x 4 maps
        region_sizes=(6, 3)),
    base_momentum=0.01)  # a faster teacher for a short run: momentum 0.99 -> 1.0
