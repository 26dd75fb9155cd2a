# Unlabeled images (found recursively under data_root) -> 2 x 224 + 8 x 96 views
# with GTSA's geometry.
dataset_type = 'UnlabeledImageFolder'
data_root = 'data/images/'
# gtsa_mm.geometry.GTSA_GEOMETRY_KEYS (a config cannot import it; tests/test_geometry.py
# checks the two agree); configs that replace the pipeline refer to this list as a base var
geometry_keys = ['crop_boxes', 'rotation_label', 'global_region_boxes', 'view_region_boxes']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # channels_first: views leave as the 3 x S x S tensors PackInputs passes on (one
    # cv2.split each instead of PackInputs' permuted copy; same values)
    dict(type='GTSAMultiCrop', global_size=224, local_size=96, num_global=2, num_local=8,
         global_scale=(0.3, 1.0), local_scale=(0.1, 0.3), channels_first=True),
    dict(type='PackInputs', algorithm_keys=geometry_keys, meta_keys=['img_path']),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    # DefaultSampler's order; each sample's crops seeded by (seed, epoch, index), so they do
    # not depend on workers, processes or resuming (docs/reliability.md)
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))

# Single images, MMPretrain's ImageNet test transform (short side 256, centre 224): what
# mmpretrain.apis.FeatureExtractor / inference read, and the images of the test loop, which
# reports the collapse statistics of one feature per image (a self-supervised model has no
# predictions to score; MMEngine's Runner needs test_cfg and test_evaluator beside a
# test_dataloader). Any folder: --cfg-options test_dataloader.dataset.data_root=DIR
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
test_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),  # one (N, 3, S, S) batch, as FeatureExtractor's
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=test_pipeline,
                 test_mode=True))
test_cfg = dict(type='FeatureStatisticsLoop')
test_evaluator = dict(type='FeatureStatisticsMetric')
