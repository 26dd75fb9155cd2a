# GTSA, the paper's recipe: ViT-S/16, 8 GPUs x 64 images, 100 epochs, COCO train2017
# images read as an unlabeled folder (annotations are not used).
_base_ = [
    '../_base_/models/gtsa_vit-small-p16.py',
    '../_base_/datasets/gtsa_imagefolder.py',
    '../_base_/schedules/gtsa_adamw-coslr-100e.py',
    '../_base_/pretrain_runtime.py',
]
train_dataloader = dict(dataset=dict(data_root='data/coco/train2017/'))
