"""Checkpoints of the GTSA authors, DINO and timm through ``init_cfg=GTSAPretrained``: every
layout into every downstream model, features equal to timm's, refused pickles, unknown
layouts and other architectures named."""
from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
import torch
from downstream_helpers import (
    ALL_CONFIGS,
    CONFIGS,
    REPO,
    TINY_VIT,
    assert_backbone_loaded,
    authors_gtsa_checkpoint,
    dino_checkpoint,
    load_config,
    make_authors_gtsa,
    mmpretrain_keys_of_timm,
    randomise_,
    timm_vit,
    tiny_finetune_cfg,
    tiny_mask_rcnn_cfg,
    tiny_sem_fpn_cfg,
    tiny_upernet_cfg,
    tiny_vit,
)

import gtsa_mm  # noqa: F401
from gtsa_mm.downstream import (
    CONFIG_NAME_OF_ARCH,
    LAYOUTS,
    BackboneCheckpointError,
    GTSAPretrainedInit,
)

# ----------------------------------------------------------------- the files, one per layout
#: (layout id, role): what the test writes; the role None is a single-backbone file.
SOURCES = [('authors_gtsa', 'student'), ('authors_gtsa', 'teacher'), ('dino', 'student'),
           ('dino', 'teacher'), ('dino_backbone', None), ('timm', None)]
SOURCE_IDS = [f'{layout}-{role}' if role else layout for layout, role in SOURCES]
#: What the log line names for each file.
TITLES = {'authors_gtsa': "authors' GTSA", 'dino': 'DINO', 'dino_backbone': 'timm / DINO ViT',
          'timm': 'timm / DINO ViT'}


@pytest.fixture(scope='module')
def foreign_files(tmp_path_factory) -> dict:
    """Each layout written as its codebase writes it; values: (path, {role: expected mmpretrain
    state dict})."""
    root = tmp_path_factory.mktemp('foreign')
    files = {}
    authors = make_authors_gtsa(seed=1)
    torch.save(authors_gtsa_checkpoint(authors), root / 'checkpoint-99.pth')
    files['authors_gtsa'] = (root / 'checkpoint-99.pth', {
        'student': mmpretrain_keys_of_timm(authors.base_encoder.state_dict()),
        'teacher': mmpretrain_keys_of_timm(authors.momentum_encoder.state_dict())})
    student, teacher = (randomise_(timm_vit(), seed).state_dict() for seed in (2, 3))
    torch.save(dino_checkpoint(student, teacher), root / 'dino_full.pth')
    files['dino'] = (root / 'dino_full.pth', {'student': mmpretrain_keys_of_timm(student),
                                              'teacher': mmpretrain_keys_of_timm(teacher)})
    # DINO's released backbones (and the authors' extracted ones): a bare ViT state dict
    torch.save(teacher, root / 'dino_deitsmall16_pretrain.pth')
    files['dino_backbone'] = (root / 'dino_deitsmall16_pretrain.pth',
                              {None: mmpretrain_keys_of_timm(teacher)})
    # timm's weights: with its classifier head, which a backbone leaves out
    weights = randomise_(timm_vit(num_classes=10), seed=4).state_dict()
    torch.save(weights, root / 'vit_small_patch16_224.pth')
    files['timm'] = (root / 'vit_small_patch16_224.pth', {None: mmpretrain_keys_of_timm(weights)})
    return files


def _init(path, role) -> dict:
    return dict(type='GTSAPretrained', checkpoint=str(path), use_teacher=role == 'teacher')


def _init_vit(path, role, **vit_kwargs):
    vit = tiny_vit(init_cfg=_init(path, role), **vit_kwargs)
    with mock.patch('gtsa_mm.downstream.pretrained_init.print_log') as log:
        vit.init_weights()
    return vit, log.call_args.args[0]


@pytest.mark.parametrize('layout, role', SOURCES, ids=SOURCE_IDS)
def test_layout_is_recognised_and_named_in_the_log(foreign_files, layout, role):
    path, expected = foreign_files[layout]
    vit, line = _init_vit(path, role)
    count = len(expected[role])  # 4 blocks: 54 tensors (ViT-S/16: 150)
    assert assert_backbone_loaded(vit, expected[role], prefix='') == count
    title = TITLES[layout] + (f', {role}' if role else '')
    assert line.startswith(f'GTSAPretrained: loaded {count} tensors of VisionTransformer from '
                           f'{path} (layout: {title})'), line
    if layout == 'timm':
        assert "unused checkpoint keys: ['head.weight', 'head.bias']" in line


# ------------------------------------------------------------------- into every downstream model
def _build_model(cfg):
    from mmengine.registry import MODELS, DefaultScope

    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        model.init_weights()
    return model


MODELS_OF_CONFIGS = {
    'mask_rcnn': lambda path, data, work: tiny_mask_rcnn_cfg(path, data['coco'], work),
    'upernet': lambda path, data, work: tiny_upernet_cfg(path, data['ade'], work),
    'semantic_fpn': lambda path, data, work: tiny_sem_fpn_cfg(path, data['ade'], work),
    'classifier': lambda path, data, work: tiny_finetune_cfg(path, data['cls'], work),
}


@pytest.mark.parametrize('model', list(MODELS_OF_CONFIGS))
@pytest.mark.parametrize('layout, role', SOURCES, ids=SOURCE_IDS)
def test_every_layout_loads_into_every_downstream_model(foreign_files, layout, role, model,
                                                        coco_tiny, ade_tiny, cls_tiny,
                                                        tmp_path):
    path, expected = foreign_files[layout]
    cfg = MODELS_OF_CONFIGS[model](path, dict(coco=coco_tiny, ade=ade_tiny, cls=cls_tiny),
                                   tmp_path)
    cfg.model.backbone.init_cfg.use_teacher = role == 'teacher'
    backbone = _build_model(cfg).backbone
    # every tensor of the backbone (52 without the final norm), pos_embed resized
    assert assert_backbone_loaded(backbone, expected[role], prefix='') == \
        len(backbone.state_dict()) >= len(expected[role]) - 2


# ---------------------------------------------------------------- same features as timm's ViT
@pytest.mark.parametrize('layout, role', SOURCES, ids=SOURCE_IDS)
def test_patch_tokens_equal_timm_forward(foreign_files, layout, role):
    path, _ = foreign_files[layout]
    checkpoint = torch.load(path, weights_only=False)
    timm_weights = {'authors_gtsa': lambda: {
        k.split('.', 1)[1]: v for k, v in checkpoint['model'].items()
        if k.startswith('momentum_encoder.' if role == 'teacher' else 'base_encoder.')},
        'dino': lambda: {k.split('backbone.', 1)[1]: v for k, v in checkpoint[role].items()
                         if 'backbone.' in k},
        'dino_backbone': lambda: checkpoint,
        'timm': lambda: {k: v for k, v in checkpoint.items() if not k.startswith('head.')},
    }[layout]()
    reference = timm_vit().eval()
    reference.load_state_dict(timm_weights, strict=True)
    vit, _ = _init_vit(path, role)
    vit.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = vit(x)[0].flatten(2).transpose(1, 2)  # (N, 196, C) from the map
        theirs = reference.forward_features(x)[:, 1:]
    difference = (ours - theirs).abs().max().item()
    print(f'{layout} {role}: max |mmpretrain - timm| = {difference:.2e}')
    assert difference <= 1e-5


# --------------------------------------------------------------------------------- refusals
class RunsCode:
    """Pickles as a call of ``os.system``: unpickling it runs a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def test_pickle_that_would_run_code_is_refused_and_not_run(tmp_path, foreign_files):
    marker = tmp_path / 'code_ran'
    authors = torch.load(foreign_files['authors_gtsa'][0], weights_only=False)
    authors['args'] = RunsCode(marker)  # in place of their argparse.Namespace
    path = tmp_path / 'checkpoint-99.pth'
    torch.save(authors, path)
    with pytest.raises(BackboneCheckpointError) as error:
        _init_vit(path, 'student')
    message = str(error.value)
    print(message)
    assert not marker.exists(), 'loading the checkpoint ran the pickled code'
    assert str(path) in message and 'system' in message  # posix.system: the object named
    assert 'can run arbitrary code' in message and 'weights_only=True' in message
    assert 'argparse.Namespace' in message and 'Nothing of the file was run' in message
    # the payload is real: a plain unpickle runs it
    torch.load(path, weights_only=False)
    assert marker.exists()


class Opaque:
    """A class of no checkpoint layout: weights-only loading would have to import it."""


def test_pickled_class_is_refused_by_name(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'extra': Opaque()}, path)
    with pytest.raises(BackboneCheckpointError) as error:
        _init_vit(path, 'student')
    message = str(error.value)
    assert f'Refused to load {str(path)!r}' in message and 'Opaque' in message
    assert 'not a PyTorch checkpoint' not in message


#: What ``wget`` of a Google Drive link to a large file saves: Drive's warning page.
GOOGLE_DRIVE_PAGE = (
    '<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>'
    '<meta http-equiv="content-type" content="text/html; charset=utf-8"/></head><body>'
    "<p>Google Drive can't scan this file for viruses.</p><form id=\"download-form\" "
    'action="https://drive.usercontent.google.com/download" method="get"></form>'
    '</body></html>')


def test_html_page_saved_as_checkpoint_is_named_as_such(tmp_path, capsys):
    from gtsa_mm.downstream.convert import main

    path = tmp_path / 'checkpoint-99.pth'
    path.write_text(GOOGLE_DRIVE_PAGE)
    with pytest.raises(BackboneCheckpointError) as error:
        _init_vit(path, 'student')
    message = str(error.value)
    print(message)
    assert f'{str(path)!r} is not a PyTorch checkpoint ({len(GOOGLE_DRIVE_PAGE)} bytes)' \
        in message
    assert 'HTML page' in message and 'Google Drive' in message
    assert 'Refused' not in message and 'pickled object' not in message
    # the tools print it as one line
    assert main([str(path), str(tmp_path / 'converted.pth')]) == 1
    printed = capsys.readouterr().err
    assert printed.startswith('error: ') and printed.count('\n') == 1 and 'HTML page' in printed


@pytest.mark.parametrize('keep', [0.5, 0.99, 100], ids=['half', 'all-but-1%', '100-bytes'])
@pytest.mark.parametrize('zip_format', [True, False], ids=['zip', 'legacy'])
def test_truncated_checkpoint_is_named_as_such(tmp_path, foreign_files, zip_format, keep):
    whole = tmp_path / 'whole.pth'
    torch.save(torch.load(foreign_files['timm'][0], weights_only=True), whole,
               _use_new_zipfile_serialization=zip_format)
    data = whole.read_bytes()
    size = int(len(data) * keep) if keep < 1 else keep
    path = tmp_path / 'vit_small_patch16_224.pth'
    path.write_bytes(data[:size])
    with pytest.raises(BackboneCheckpointError) as error:
        _init_vit(path, 'student')
    message = str(error.value)
    print(message)
    assert f'{str(path)!r} is not a PyTorch checkpoint ({size} bytes)' in message
    assert f"{'zip' if zip_format else 'legacy'}-format PyTorch checkpoint but ends early" \
        in message
    assert 'Refused' not in message


def test_unknown_layout_names_key_groups_and_known_layouts(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save(dict(model_state={'encoder.layer.0.weight': torch.zeros(2, 2),
                                 'decoder.proj.weight': torch.zeros(2, 2)}, epoch=3), path)
    with pytest.raises(BackboneCheckpointError) as error:
        _init_vit(path, 'student')
    message = str(error.value)
    assert str(path) in message and 'no layout GTSAPretrained knows' in message
    assert "'model_state'" in message and "'encoder.' (1 keys)" in message
    for layout in LAYOUTS:
        assert layout.title in message and layout.signature in message


def test_use_teacher_with_a_single_backbone_says_so(foreign_files):
    path, _ = foreign_files['dino_backbone']
    with pytest.raises(BackboneCheckpointError, match='single backbone of no stated role'):
        _init_vit(path, 'teacher')


# ------------------------------------------------------------------------ other architectures
def _demo_runner_checkpoint(path: Path) -> Path:
    """A Runner checkpoint of the demo pretraining (4 blocks, 128 dims, patch 8) with the
    config text the Runner stores in meta['cfg']."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(CONFIGS / 'gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py'))
    vit = tiny_vit(arch=dict(embed_dims=128, num_layers=4, num_heads=2,
                             feedforward_channels=512), patch_size=8, img_size=64)
    state_dict = {f'{prefix}{k}': v for prefix in ('backbone.', 'target_net.module.0.')
                  for k, v in vit.state_dict().items()}
    torch.save(dict(state_dict=state_dict, meta=dict(
        cfg=cfg.pretty_text, experiment_name='gtsa_vit-tiny-p8_1xb32-coslr-24e_demo_20261201')),
        path)
    return path


def test_demo_checkpoint_in_the_vit_s16_config_names_both_architectures(tmp_path):
    from mmpretrain.registry import MODELS

    path = _demo_runner_checkpoint(tmp_path / 'epoch_24.pth')
    cfg = load_config('mmdet/mask-rcnn_vit-small-p16-gtsa_fpn_1x_coco.py')
    backbone_cfg = dict(cfg.model.backbone, type='VisionTransformer')
    backbone_cfg['init_cfg'] = dict(backbone_cfg['init_cfg'], checkpoint=str(path),
                                    use_teacher=True)
    backbone = MODELS.build(backbone_cfg)
    with pytest.raises(BackboneCheckpointError) as error:
        backbone.init_weights()
    message = str(error.value)
    print(message)
    assert 'holds a ViT of 4 blocks, 128 dims, patch size 8, MLP width 512' in message
    assert 'the config builds a ViT of 12 blocks, 384 dims, patch size 16, MLP width 1536' \
        in message
    # the stored config, read without running it, and the run
    assert "'embed_dims': 128" in message and "'num_layers': 4" in message
    assert 'patch_size=8' in message and 'gtsa_vit-tiny-p8_1xb32-coslr-24e_demo' in message
    for config in ('configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py',
                   'configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py'):
        assert config in message
    assert 'lacks' not in message and 'cannot make an architecture fit' in message


def test_other_architecture_without_shipped_config_says_what_to_set(gtsa_checkpoint):
    vit = tiny_vit(arch=dict(TINY_VIT, embed_dims=32, feedforward_channels=64),
                   init_cfg=dict(type='GTSAPretrained', checkpoint=str(gtsa_checkpoint)))
    with pytest.raises(BackboneCheckpointError) as error:
        vit.init_weights()
    message = str(error.value)
    assert 'holds a ViT of 4 blocks, 64 dims, patch size 16, MLP width 128' in message
    assert 'embed_dims=64, num_layers=4' in message and 'patch_size=16' in message


@pytest.mark.parametrize('config', sorted(
    str(p.relative_to(CONFIGS)) for name in CONFIG_NAME_OF_ARCH.values()
    for p in CONFIGS.glob(f'*/*{name}*.py') if p.parent.name in ('mmdet', 'mmseg',
                                                                   'classification')))
def test_config_names_agree_with_their_backbones(config):
    from mmpretrain.models import VisionTransformer

    backbone = load_config(config).model.backbone
    arch = backbone.arch
    if isinstance(arch, str):
        arch = VisionTransformer.arch_zoo[arch]
    key = (arch['num_layers'], arch['embed_dims'], backbone.patch_size)
    assert CONFIG_NAME_OF_ARCH[key] in config


def test_every_shipped_downstream_config_is_covered():
    covered = {p for name in CONFIG_NAME_OF_ARCH.values() for p in CONFIGS.glob(f'*/*{name}*.py')}
    shipped = {CONFIGS / c for c in ALL_CONFIGS}
    assert shipped <= covered, shipped - covered
    assert (REPO / 'configs').is_dir()


def test_initialiser_still_rejects_prefix_with_teacher():
    with pytest.raises(ValueError, match='not both'):
        GTSAPretrainedInit(checkpoint='x.pth', prefix='', use_teacher=True)


def test_model_index_lists_the_released_checkpoints_with_the_papers_figures():
    from modelindex import load

    models = {m.name: m for m in load(str(REPO / 'model-index.yml')).models
              if 'release' in m.name}
    assert len(models) == 4  # GTSA and DINO, COCO and ADE20K
    expected = {('gtsa', 'coco'): 35.8, ('gtsa', 'ade20k'): 30.6, ('dino', 'coco'): 32.4,
                ('dino', 'ade20k'): 27.3}
    for (method, data), figure in expected.items():
        model = next(m for name, m in models.items()
                     if name.startswith(method) and name.endswith(data))
        metadata = model.metadata.data
        assert 'bok3948/GTSA README' in metadata['Source'] and model.weights is None
        assert "paper's figures" in metadata['Results Source'] and metadata['Conversion']
        metrics = {k: v for r in model.results for k, v in r.metrics.items()}
        assert metrics.get('box AP', metrics.get('mIoU')) == figure
        assert (REPO / model.config).is_file()
