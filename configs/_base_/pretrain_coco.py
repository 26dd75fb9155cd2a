# Everything of the paper's pretraining but the method: COCO train2017 images read as an
# unlabelled folder (annotations are not used) with the paper's crops, the 100-epoch AdamW
# schedule for 8 GPUs x 64 images and the pretraining runtime.
_base_ = [
    './datasets/gtsa_imagefolder.py',
    './schedules/gtsa_adamw-coslr-100e.py',
    './pretrain_runtime.py',
]
train_dataloader = dict(dataset=dict(data_root='data/coco/train2017/'))
test_dataloader = dict(dataset=dict(data_root='data/coco/val2017/'))
