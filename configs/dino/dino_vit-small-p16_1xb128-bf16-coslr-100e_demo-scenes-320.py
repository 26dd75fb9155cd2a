# DINO with the data, crops, schedule, optimiser and precision of
# configs/gtsa/gtsa_vit-small-p16_1xb128-bf16-coslr-100e_demo-scenes-320.py (one GPU, batch
# 128, bfloat16, the demo's generated scenes at 320 px): only the method differs.
_base_ = './dino_vit-small-p16_8xb64-amp-coslr-100e_coco.py'

batch_size = 128
train_dataloader = dict(batch_size=batch_size, num_workers=12,
                        dataset=dict(data_root='data/demo_gpu/pretrain/'))
# bfloat16 has float32's exponent range: no loss scaling (as tools/train.py --amp-dtype bfloat16)
optim_wrapper = dict(dtype='bfloat16', loss_scale=dict(_delete_=True, enabled=False),
                     optimizer=dict(lr=5e-4 * batch_size / 256))
