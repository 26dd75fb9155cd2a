# GTSA, the paper's recipe on ADE20K training images (labels are not used).
_base_ = './gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'

train_dataloader = dict(dataset=dict(data_root='data/ade/ADEChallengeData2016/images/training/'))
test_dataloader = dict(dataset=dict(data_root='data/ade/ADEChallengeData2016/images/validation/'))
