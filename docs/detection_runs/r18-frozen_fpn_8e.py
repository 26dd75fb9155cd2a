# The ResNet-18 reference (configs/mmdet/mask-rcnn_r18_fpn_1xb4-8e_demo.py) with the
# randomly initialised ResNet frozen (stem and 4 stages, BN in eval mode): only the FPN
# and heads train.
_base_ = '../../configs/mmdet/mask-rcnn_r18_fpn_1xb4-8e_demo.py'
model = dict(backbone=dict(frozen_stages=4, norm_eval=True))
