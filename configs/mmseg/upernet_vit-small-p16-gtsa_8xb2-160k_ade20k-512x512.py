# UperNet on ADE20K with a GTSA-pretrained ViT-S/16 (blocks 2/5/8/11), MMSegmentation's
# ViT-S UperNet recipe (512x512 crops, 160k iterations, 8 GPUs x 2 images, AdamW lr 6e-5,
# weight decay 0.01, 1500 warm-up iterations then linear decay) plus layer-wise lr
# decay 0.65 as usual for self-supervised ViTs. The paper has no UperNet protocol.
#
#   bash tools/dist_train.sh configs/mmseg/upernet_vit-small-p16-gtsa_8xb2-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<run>/epoch_100.pth
_base_ = 'mmseg::vit/vit_deit-s16_mln_upernet_8xb2-160k_ade20k-512x512.py'

custom_imports = dict(imports=['gtsa_mm'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',
        img_size=512,  # the 14x14 pos_embed is resized to 32x32 when loaded
        patch_size=16,
        out_indices=(2, 5, 8, 11),
        out_type='featmap',
        final_norm=False,
        drop_path_rate=0.1,
        init_cfg=dict(type='GTSAPretrained', checkpoint=None, use_teacher=False)))

optim_wrapper = dict(
    constructor='ViTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.65))
