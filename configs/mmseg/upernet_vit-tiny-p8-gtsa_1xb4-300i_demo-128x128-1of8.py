# Label-scarce UperNet on the bundled demo data: the demo UperNet
# (upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py) trained on 1/8 of the labelled scenes
# (16 of 128) for 300 iterations (75 epochs of the subset), evaluated on all 32 validation
# scenes. Few labels are where a pretrained backbone should matter most. tools/demo.py sets
# each seed's subset (train_dataloader.dataset.indices); by hand, e.g. the first 16 images:
#
#   python tools/train.py configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-300i_demo-128x128-1of8.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/demo/pretrain/epoch_24.pth \
#       train_dataloader.dataset.indices=16
_base_ = './upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py'

max_iters = 300
warmup_iters = 25

train_dataloader = dict(dataset=dict(indices=16))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0., power=1.0, by_epoch=False, begin=warmup_iters,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
