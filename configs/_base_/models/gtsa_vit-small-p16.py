# GTSA on the shared ViT-S/16 student of vit-small-p16_multiview.py: the projector (neck) and
# the head with the predictor, the rotation head and the three losses at the paper's sizes and
# weights. Each loss carries its weight (loss_weight); the patch size is the backbone's and the
# number of global views the pipeline's GTSAMultiCrop's, neither is written here.
_base_ = './vit-small-p16_multiview.py'
model = dict(
    type='GTSA',
    backbone=dict(out_type='featmap'),
    neck=dict(type='GTSAProjector', in_channels=384, out_channels=768, num_blocks=2),
    head=dict(
        type='GTSAHead',
        predictor=dict(type='GTSAPredictor', in_channels=768, hidden_channels=768,
                       out_channels=768),
        rotation_head=dict(type='RotationHead', in_channels=384, hidden_channels=768,
                           bottleneck_channels=128),
        region_loss=dict(type='RegionLoss', loss_weight=1.0, rotate_target=True),
        # The authors' rule: the patch loss is on when `warmup_epochs < epoch` (0-based
        # epochs, warmup_epochs = 10 as the lr warm-up), so epochs 0..10 have weight 0 and
        # the loss starts at epoch 11: warmup_epochs + 1 = 11 epochs with weight 0.
        patch_loss=dict(type='PatchCorrespondenceLoss', loss_weight=0.5, match_ratio=0.5,
                        warmup_epochs=11),
        rotation_loss=dict(type='CrossEntropyLoss', loss_weight=0.5),
        region_sizes=(10, 4),
        target='region'),
    base_momentum=0.004,  # teacher momentum 0.996 -> 1.0 (cosine)
    end_momentum=0.)
