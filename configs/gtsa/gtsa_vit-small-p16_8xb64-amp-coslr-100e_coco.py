# GTSA, the paper's recipe: ViT-S/16, 8 GPUs x 64 images, 100 epochs, COCO train2017
# images read as an unlabeled folder (annotations are not used).
_base_ = ['../_base_/models/gtsa_vit-small-p16.py', '../_base_/pretrain_coco.py']
