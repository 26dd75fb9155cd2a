"""init_cfg=dict(type='GTSAPretrained'): strict loading, pos_embed resizing, clear errors."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from downstream_helpers import REPO, TINY_VIT, assert_backbone_loaded, tiny_vit

from gtsa_mm.downstream import BackboneCheckpointError, GTSAPretrainedInit


def init_vit(checkpoint, **init) -> torch.nn.Module:
    """A tiny ViT initialised through MMEngine's normal init_weights path."""
    vit_kwargs = init.pop('vit_kwargs', {})
    torch.manual_seed(123)
    vit = tiny_vit(init_cfg=dict(type='GTSAPretrained', checkpoint=str(checkpoint), **init),
                   **vit_kwargs)
    vit.init_weights()
    return vit


def assert_loaded(vit, state_dict, prefix):
    assert assert_backbone_loaded(vit, state_dict, prefix) == len(vit.state_dict())


def test_student_loaded_and_not_reinitialised(gtsa_checkpoint, gtsa_state_dict):
    # init_weights of the FFNs and of pos_embed run after the initialiser; they must
    # not overwrite what it loaded.
    vit = init_vit(gtsa_checkpoint)
    assert_loaded(vit, gtsa_state_dict, 'backbone.')
    assert vit.init_cfg['type'] == 'Pretrained'


@pytest.mark.parametrize('use_teacher, location', [
    (False, "state_dict['backbone.*']"), (True, "state_dict['target_net.module.0.*']")])
def test_init_cfg_records_where_the_weights_came_from(gtsa_checkpoint, use_teacher, location):
    vit = init_vit(gtsa_checkpoint, use_teacher=use_teacher)
    # type 'Pretrained' keeps mmpretrain's VisionTransformer.init_weights off pos_embed
    assert vit.init_cfg == dict(type='Pretrained', checkpoint=str(gtsa_checkpoint),
                                layout='gtsa_mm', role='teacher' if use_teacher else 'student',
                                location=location)


def test_running_the_record_raises_instead_of_loading_the_whole_file(gtsa_checkpoint):
    from mmengine.model import initialize

    vit = init_vit(gtsa_checkpoint)
    loaded = {k: v.clone() for k, v in vit.state_dict().items()}
    # MMEngine's Pretrained would load the whole file with strict=False: nothing matches
    with pytest.raises(TypeError, match='layout'):
        initialize(vit, vit.init_cfg)
    assert all(torch.equal(loaded[k], v) for k, v in vit.state_dict().items())


def test_teacher(gtsa_checkpoint, gtsa_state_dict):
    vit = init_vit(gtsa_checkpoint, use_teacher=True)
    assert_loaded(vit, gtsa_state_dict, 'target_net.module.0.')
    assert not torch.equal(vit.layers[0].attn.qkv.weight,
                           gtsa_state_dict['backbone.layers.0.attn.qkv.weight'])


def test_pos_embed_resized_for_another_image_size(gtsa_checkpoint, gtsa_state_dict):
    vit = init_vit(gtsa_checkpoint, vit_kwargs=dict(img_size=96))
    assert vit.pos_embed.shape == (1, 1 + 6 * 6, TINY_VIT['embed_dims'])
    assert_loaded(vit, gtsa_state_dict, 'backbone.')


def test_extra_checkpoint_keys_are_fine(gtsa_checkpoint, gtsa_state_dict):
    # A detection backbone without the final norm ignores the checkpoint's ln1.
    vit = init_vit(gtsa_checkpoint, vit_kwargs=dict(final_norm=False))
    assert_loaded(vit, gtsa_state_dict, 'backbone.')


def test_extracted_file_with_empty_prefix(tmp_path, gtsa_state_dict):
    path = tmp_path / 'backbone.pth'
    torch.save(dict(state_dict={k[len('backbone.'):]: v for k, v in gtsa_state_dict.items()
                                if k.startswith('backbone.')}), path)
    assert_loaded(init_vit(path, prefix=''), gtsa_state_dict, 'backbone.')


@pytest.mark.parametrize('init, wanted', [
    (dict(prefix='neck.'), "under prefix 'neck.'"),
    (dict(prefix=''), "''"),
])
def test_wrong_prefix_names_file_prefix_and_keys(gtsa_checkpoint, init, wanted):
    with pytest.raises(BackboneCheckpointError) as error:
        init_vit(gtsa_checkpoint, **init)
    message = str(error.value)
    assert str(gtsa_checkpoint) in message and wanted in message
    assert 'missing: ' in message and 'patch_embed.projection.weight' in message
    assert "'backbone.'" in message and "'target_net.module.0.'" in message  # what it has


def test_detector_checkpoint_is_rejected(tmp_path):
    # e.g. an MMDetection ResNet-50 Mask R-CNN checkpoint: 'backbone.' exists, no ViT.
    path = tmp_path / 'mask_rcnn_r50.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(64, 3, 7, 7),
                                'backbone.layer1.0.conv1.weight': torch.zeros(64, 64, 1, 1),
                                'rpn_head.rpn_conv.weight': torch.zeros(256, 256, 3, 3)},
                    meta=dict()), path)
    with pytest.raises(BackboneCheckpointError, match='mask_rcnn_r50.pth') as error:
        init_vit(path)
    assert 'cls_token' in str(error.value) and "'rpn_head.'" in str(error.value)


def test_other_architecture_is_rejected(gtsa_checkpoint):
    with pytest.raises(BackboneCheckpointError, match='the architectures differ'):
        init_vit(gtsa_checkpoint, vit_kwargs=dict(
            arch=dict(TINY_VIT, embed_dims=32, feedforward_channels=64)))


def test_unset_checkpoint_says_how_to_set_it():
    vit = tiny_vit(init_cfg=dict(type='GTSAPretrained', checkpoint=None))
    with pytest.raises(BackboneCheckpointError,
                       match='model.backbone.init_cfg.checkpoint=') as error:
        vit.init_weights()
    assert 'init_cfg=None' in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(BackboneCheckpointError, match='does not exist'):
        init_vit(tmp_path / 'nope.pth')


def test_prefix_and_teacher_conflict():
    with pytest.raises(ValueError, match='not both'):
        GTSAPretrainedInit(checkpoint='x.pth', prefix='backbone.', use_teacher=True)


def test_import_gtsa_mm_registers_downstream_components():
    # Configs only name `custom_imports=['gtsa_mm']`, so the package import itself must
    # register the initialiser and the optimizer constructor.
    code = ('import gtsa_mm\n'
            'from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, WEIGHT_INITIALIZERS\n'
            "assert WEIGHT_INITIALIZERS.get('GTSAPretrained') is not None\n"
            "assert OPTIM_WRAPPER_CONSTRUCTORS.get('ViTLayerDecayOptimWrapperConstructor')\n")
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
