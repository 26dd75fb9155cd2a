# The demo's Mask R-CNN with normalisation (BN) in the FPN's lateral and output convs
# (Feature2Pyramid's norm_cfg acts on its 4x branch only, unused with these rescales).
# docs/demo.md, "Why Mask R-CNN does not detect here".
_base_ = '../../configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py'
embed_dims = 128
model = dict(neck=[
    dict(type='mmseg.Feature2Pyramid', embed_dim=embed_dims, rescales=[2, 1, 0.5, 0.25],
         norm_cfg=dict(type='SyncBN', requires_grad=True)),
    dict(type='FPN', in_channels=[embed_dims] * 4, out_channels=64, num_outs=5,
         norm_cfg=dict(type='SyncBN', requires_grad=True)),
])
