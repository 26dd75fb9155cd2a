# DINO baseline with GTSA's data, crops, schedule and optimiser: only the method differs
# from configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py.
_base_ = ['../_base_/models/dino_vit-small-p16.py', '../_base_/pretrain_coco.py']
