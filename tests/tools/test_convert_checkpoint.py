"""tools/convert_checkpoint.py: the GTSA authors' checkpoint as a Runner checkpoint of our GTSA
(strict load into the paper config's model, every tensor once and in the module of its role,
the same outputs as the authors' modules, a training step from it), backbones of every layout
in MMPretrain's and timm's layouts."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from downstream_helpers import (
    PATCH_SIZE,
    PRETRAIN_IMG_SIZE,
    TINY_VIT,
    authors_gtsa_checkpoint,
    dino_checkpoint,
    make_authors_gtsa,
    mmpretrain_keys_of_timm,
    randomise_,
    timm_vit,
)
from gtsa_test_utils import run_tool

import gtsa_mm  # noqa: F401
from gtsa_mm.downstream.convert import convert_authors_state_dict, main

PAPER_CONFIG = Path(__file__).resolve().parents[2] / \
    'configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py'
_DIMS = TINY_VIT['embed_dims']
#: Our GTSA with the modules of ``AuthorsGTSA()``'s tiny defaults (the paper config's
#: structure: ViT, 2-block projector, 1-block predictor, rotation MLP).
TINY_GTSA = dict(
    backbone=dict(type='VisionTransformer', arch=dict(TINY_VIT), img_size=PRETRAIN_IMG_SIZE,
                  patch_size=PATCH_SIZE, out_type='featmap', drop_path_rate=0.),
    neck=dict(type='GTSAProjector', in_channels=_DIMS, out_channels=48),
    head=dict(
        type='GTSAHead',
        predictor=dict(type='GTSAPredictor', in_channels=48, hidden_channels=48,
                       out_channels=48),
        rotation_head=dict(type='RotationHead', in_channels=_DIMS, hidden_channels=32,
                           bottleneck_channels=16),
        region_sizes=(3, 1)))
#: The role of each of the authors' modules in our GTSA: this test's own statement.
ROLES = {'base_encoder.': 'backbone.', 'momentum_encoder.': 'target_net.module.0.',
         'base_projector.': 'neck.', 'momentum_projector.': 'target_net.module.1.',
         'base_predictor.': 'head.predictor.', 'rot_predictor.': 'head.rotation_head.'}


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def build_gtsa(model_cfg: dict, init: bool = True):
    from mmpretrain.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    if init:  # loading replaces every tensor anyway; skipped for the full-size model
        model.init_weights()
    return model.eval()


@pytest.fixture(scope='module')
def authors(tmp_path_factory):
    """The tiny restatement of the authors' GTSA and its checkpoint file."""
    model = make_authors_gtsa(seed=7)
    path = tmp_path_factory.mktemp('authors') / 'checkpoint-99.pth'
    torch.save(authors_gtsa_checkpoint(model), path)
    return model, path


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    """A GTSA pretraining config of the tiny model (the paper config, shrunk)."""
    from pretrain_helpers import tiny_pretrain_cfg, write_images

    root = tmp_path_factory.mktemp('tiny_config')
    cfg = tiny_pretrain_cfg(root / 'work', write_images(root / 'images', 4), max_epochs=1,
                            **TINY_GTSA)
    path = root / 'gtsa_tiny.py'
    cfg.dump(str(path))
    return path


@pytest.fixture(scope='module')
def converted(authors, tiny_config, tmp_path_factory):
    _, path = authors
    out = tmp_path_factory.mktemp('converted') / 'gtsa_authors.pth'
    assert main([str(path), str(out), '--config', str(tiny_config)]) == 0
    return out


def test_paper_model_loads_the_authors_checkpoint_strictly_every_tensor_once():
    from mmengine.config import Config

    source = make_authors_gtsa(seed=3, vit=dict(embed_dim=384, depth=12, num_heads=6,
                                                mlp_ratio=4.0), out_dim=768, predictor_dim=768,
                               rot_hidden=768, rot_bottleneck=128).state_dict()
    state_dict, key_map = convert_authors_state_dict(source)
    model = build_gtsa(Config.fromfile(str(PAPER_CONFIG)).model, init=False)
    model.load_state_dict(state_dict, strict=True)
    ours = model.state_dict()
    assert len(set(key_map.values())) == len(key_map) == len(source)  # each used once
    assert set(key_map.values()) | {'target_net.steps'} == set(ours)  # and nothing else
    assert int(ours['target_net.steps']) == 1  # the EMA keeps the loaded teacher
    for theirs, mine in key_map.items():
        role = next(p for p in ROLES if theirs.startswith(p))
        assert mine.startswith(ROLES[role]), (theirs, mine)
        assert torch.equal(ours[mine], source[theirs]), (theirs, mine)
    # student and teacher differ, so a swap would have shown above
    assert not torch.equal(ours['backbone.layers.0.attn.qkv.weight'],
                           ours['target_net.module.0.layers.0.attn.qkv.weight'])
    assert len([k for k in key_map if k.startswith('base_encoder.')]) == 150


def test_converted_modules_compute_what_the_authors_modules_compute(authors, converted):
    from mmengine.config import Config

    reference, _ = authors
    checkpoint = torch.load(converted, weights_only=True)
    model_cfg = Config.fromstring(checkpoint['meta']['cfg'], '.py').model
    model = build_gtsa(model_cfg)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    x = torch.randn(2, 3, PRETRAIN_IMG_SIZE, PRETRAIN_IMG_SIZE,
                    generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tokens, prediction, rotation = reference.student(x)
        feature_map = model.backbone(x)[0]
        teacher = model.target_net.module
        outputs = {
            'backbone': (feature_map.flatten(2).transpose(1, 2), tokens),
            'projector + predictor': (model.head.predictor(model.neck((feature_map, )))[0],
                                      prediction),
            'rotation head': (model.head.rotation_head(feature_map), rotation),
            'teacher backbone + projector': (teacher[1](teacher[0](x))[0], reference.teacher(x)),
        }
    for name, (ours, theirs) in outputs.items():
        difference = (ours - theirs).abs().max().item()
        print(f'{name}: max |ours - authors\'| = {difference:.2e}')
        assert ours.shape == theirs.shape and difference <= 1e-5, name


def test_converted_checkpoint_continues_pretraining_through_load_from(authors, converted,
                                                                      tiny_config, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(str(tiny_config))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.load_from = str(converted)
    cfg.default_hooks.checkpoint = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert torch.isfinite(torch.tensor(loss)), loss
    loaded = torch.load(converted, weights_only=True)['state_dict']
    trained = runner.model.state_dict()
    key = 'layers.0.attn.qkv.weight'
    # with max_iters=1 the momentum schedule ends at teacher momentum 1: the teacher is the
    # authors' momentum_encoder, untouched (had the EMA counter been 0, it would be the student)
    assert torch.equal(trained[f'target_net.module.0.{key}'], loaded[f'target_net.module.0.{key}'])
    assert not torch.equal(trained[f'backbone.{key}'], loaded[f'backbone.{key}'])  # it trained


def test_probes_and_pictures_read_the_converted_checkpoint(authors, converted):
    from gtsa_mm.evaluation.backbones import (
        build_probe_backbone,
        load_backbone_weights,
        model_config,
    )
    from gtsa_mm.visualization.features import load_vit

    reference, _ = authors
    expected = mmpretrain_keys_of_timm(reference.momentum_encoder.state_dict())
    backbone = build_probe_backbone(model_config(str(converted)))
    load_backbone_weights(backbone, str(converted), teacher=True)
    loaded = load_vit(str(converted), teacher=True).backbone
    for vit in (backbone, loaded):
        for key, value in vit.state_dict().items():
            assert torch.equal(value, expected[key]), key


def test_help_names_the_layouts(capsys):
    with pytest.raises(SystemExit):
        main(['--help'])
    text = capsys.readouterr().out
    assert "authors' pretraining checkpoint" in text and '--backbone' in text


def test_full_conversion_on_the_command_line(authors, tiny_config, tmp_path):
    _, path = authors
    out = tmp_path / 'converted.pth'
    result = run_tool('convert_checkpoint.py', str(path), str(out), '--config',
                      str(tiny_config))
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"authors' GTSA -> gtsa_mm GTSA Runner checkpoint: 139 tensors "
                     r'\(backbone, head, neck, target_net\), from 138 '
                     r'source tensors', result.stdout), result.stdout
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['source_layout'] == "authors' GTSA" and meta['source_epoch'] == 99
    assert meta['source_args']['num_matches'] == (98, 18)


@pytest.mark.parametrize('role', ['student', 'teacher'])
def test_backbone_in_timm_layout_equals_the_authors_encoder(authors, tmp_path, role):
    reference, path = authors
    out = tmp_path / 'vit_timm.pth'
    args = [str(path), str(out), '--backbone', '--format', 'timm']
    assert main(args + (['--teacher'] if role == 'teacher' else [])) == 0
    vit = timm_vit()
    vit.load_state_dict(torch.load(out, weights_only=True), strict=True)
    encoder = reference.momentum_encoder if role == 'teacher' else reference.base_encoder
    for key, value in encoder.state_dict().items():
        assert torch.equal(vit.state_dict()[key], value), key


def test_backbone_in_mmpretrain_layout_keeps_its_role(authors, tmp_path):
    from downstream_helpers import assert_backbone_loaded, tiny_vit

    reference, path = authors
    out = tmp_path / 'teacher.pth'
    assert main([str(path), str(out), '--backbone', '--teacher']) == 0
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['role'] == 'teacher' and saved['meta']['source_layout'] == \
        "authors' GTSA"
    vit = tiny_vit(init_cfg=dict(type='GTSAPretrained', checkpoint=str(out), use_teacher=True))
    vit.init_weights()
    assert_backbone_loaded(vit, mmpretrain_keys_of_timm(reference.momentum_encoder.state_dict()),
                           prefix='')


def test_dino_and_timm_files_convert_to_our_backbone_layout(tmp_path):
    student, teacher = (randomise_(timm_vit(), seed).state_dict() for seed in (5, 6))
    weights = randomise_(timm_vit(num_classes=10), seed=8).state_dict()
    torch.save(dino_checkpoint(student, teacher), tmp_path / 'dino.pth')
    torch.save(weights, tmp_path / 'timm.pth')
    for name, extra, expected in (('dino', ['--teacher'], teacher), ('timm', [], weights)):
        out = tmp_path / f'{name}_mm.pth'
        assert main([str(tmp_path / f'{name}.pth'), str(out), *extra]) == 0
        saved = torch.load(out, weights_only=True)['state_dict']
        assert saved.keys() == mmpretrain_keys_of_timm(expected).keys()
        for key, value in mmpretrain_keys_of_timm(expected).items():
            assert torch.equal(saved[key], value), key


def test_refused_file_exits_with_the_reason(tmp_path, capsys):
    path = tmp_path / 'bad.pth'
    torch.save(dict(model={'x.weight': torch.zeros(1)}, args=print), path)  # builtins.print
    assert main([str(path), str(tmp_path / 'out.pth')]) == 1
    assert 'the pickled object print,' in capsys.readouterr().err  # torch's name for it
    assert not (tmp_path / 'out.pth').exists()


def test_projector_that_changes_width_is_refused():
    # their first projector block then has no residual; GTSAProjector always has one
    from gtsa_mm.downstream import BackboneCheckpointError

    source = make_authors_gtsa(seed=9, projector_dim=32).state_dict()
    with pytest.raises(BackboneCheckpointError, match="skips that block's residual"):
        convert_authors_state_dict(source)
