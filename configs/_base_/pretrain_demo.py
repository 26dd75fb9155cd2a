# Everything of the demo pretraining but the method: the demo scenes and crops, the
# 24-epoch schedule, the demo runtime and the demo ViT (4 blocks, 128 dims, 2 heads, patch
# 8, on 64 px global views), which a method config sets with
# `model = dict(backbone={{_base_.demo_backbone}})` on its ViT-S/16 model base.
_base_ = [
    './datasets/demo_scenes.py',
    './schedules/demo_adamw-coslr-24e.py',
    './demo_runtime.py',
]

embed_dims = 128
patch_size = 8
demo_backbone = dict(
    arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=2,
              feedforward_channels=4 * embed_dims),
    img_size={{_base_.global_size}},
    patch_size=patch_size,
    drop_path_rate=0.)
