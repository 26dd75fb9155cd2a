# GTSA, the paper's recipe (ViT-S/16, 2 x 224 px + 8 x 96 px crops, AdamW with warm-up and
# cosine decay, per-parameter clipping) on one GPU: batch 128, lr 5e-4 x 128 / 256, bfloat16
# mixed precision, on the demo's generated scenes at 320 px
# (`tools/make_demo_data.py --image-size 320 --num-pretrain 10000 --out data/demo_gpu`).
# The GPU study (`bash tools/study_gpu.sh`, docs/comparison.md) runs it and its DINO twin
# (configs/dino/dino_vit-small-p16_1xb128-bf16-coslr-100e_demo-scenes-320.py) for equal
# wall-clock time: it replaces the 100 epochs by the epochs that fit the time budget.
_base_ = './gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'

batch_size = 128
train_dataloader = dict(batch_size=batch_size, num_workers=12,
                        dataset=dict(data_root='data/demo_gpu/pretrain/'))
# bfloat16 has float32's exponent range: no loss scaling (as tools/train.py --amp-dtype bfloat16)
optim_wrapper = dict(dtype='bfloat16', loss_scale=dict(_delete_=True, enabled=False),
                     optimizer=dict(lr=5e-4 * batch_size / 256))
