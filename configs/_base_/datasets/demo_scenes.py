# The demo's unlabelled scenes (gtsa_mm_lab.demo_data: 512 images of 256 px in
# <demo data>/pretrain/) -> 2 x 64 px global + 4 x 32 px local views, batch 32, one worker.
_base_ = './gtsa_imagefolder.py'

# The demo data (tools/make_demo_data.py --out): every demo config reads its data under this
# folder, and the environment variable GTSA_DEMO_DATA, read when a config is loaded, moves
# all of it at once: `GTSA_DEMO_DATA=/elsewhere python tools/train.py CONFIG`.
demo_data_root = '{{$GTSA_DEMO_DATA:data/demo}}/'
data_root = demo_data_root + 'pretrain/'
# the labelled scenes that the demo runtime's DenseProbeHook probes; in a config that
# inherits this one: probe_data_root = 'FOLDER', or --cfg-options probe_data_root=FOLDER
probe_data_root = demo_data_root + 'ade/'

global_size = 64
local_size = 32

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='GTSAMultiCrop', global_size=global_size, local_size=local_size,
         num_global=2, num_local=4, global_scale=(0.3, 1.0), local_scale=(0.1, 0.3)),
    dict(type='PackInputs', algorithm_keys={{_base_.geometry_keys}}, meta_keys=['img_path']),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    pin_memory=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
# single images at the global views' size (short side 73, centre 64, as 256 -> 224), tested
# on the held-out images of the demo's labelled scenes
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=global_size * 8 // 7, edge='short'),
    dict(type='CenterCrop', crop_size=global_size),
    dict(type='PackInputs'),
]
test_dataloader = dict(
    batch_size=32,
    dataset=dict(data_root=probe_data_root + 'images/validation/', pipeline=test_pipeline))
