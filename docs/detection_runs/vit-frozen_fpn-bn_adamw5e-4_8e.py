# vit-gtsa_fpn-bn_adamw5e-4_8e.py with the ViT frozen (patch embedding and all 4 blocks):
# only the neck and heads train.
_base_ = './vit-gtsa_fpn-bn_adamw5e-4_8e.py'
model = dict(backbone=dict(frozen_stages=4))
