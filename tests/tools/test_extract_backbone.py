"""tools/extract_backbone.py (gtsa_mm.downstream.backbone_extraction): student/teacher out
of a GTSA Runner checkpoint into MMPretrain's and timm's key layouts, checked by identical
model outputs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from downstream_helpers import (
    PATCH_SIZE,
    PRETRAIN_IMG_SIZE,
    TINY_VIT,
    make_gtsa_checkpoint,
    tiny_vit,
)
from gtsa_test_utils import run_tool


@pytest.fixture(scope='module')
def tool():
    from gtsa_mm.downstream import backbone_extraction

    return backbone_extraction


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    import gtsa_mm  # noqa: F401

    return make_gtsa_checkpoint(tmp_path_factory.mktemp('pretrain') / 'epoch_1.pth')


@pytest.fixture(scope='module')
def source_state_dict(checkpoint) -> dict:
    from gtsa_mm.downstream import read_state_dict

    return read_state_dict(str(checkpoint))


def reference_vit(source_state_dict, prefix):
    """The ViT the checkpoint describes, loaded directly from its prefixed keys."""
    vit = tiny_vit(out_type='raw')
    vit.eval()
    vit.load_state_dict({k[len(prefix):]: v for k, v in source_state_dict.items()
                         if k.startswith(prefix)})
    return vit


def test_help():
    result = run_tool('extract_backbone.py', '--help')
    assert result.returncode == 0, result.stderr
    for option in ('--teacher', '--out', '--format'):
        assert option in result.stdout


@pytest.mark.parametrize('teacher', [False, True], ids=['student', 'teacher'])
def test_mmpretrain_round_trip(tool, checkpoint, source_state_dict, tmp_path, teacher):
    out = tmp_path / 'vit.pth'
    args = [str(checkpoint), '--out', str(out)] + (['--teacher'] if teacher else [])
    assert tool.main(args) == 0
    saved = torch.load(out, map_location='cpu', weights_only=True)
    assert saved['meta']['role'] == ('teacher' if teacher else 'student')
    assert saved['meta']['num_layers'] == TINY_VIT['num_layers']

    vit = tiny_vit(out_type='raw')
    vit.eval()
    vit.load_state_dict(saved['state_dict'], strict=True)
    reference = reference_vit(source_state_dict,
                              'target_net.module.0.' if teacher else 'backbone.')
    x = torch.randn(2, 3, PRETRAIN_IMG_SIZE, PRETRAIN_IMG_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], reference(x)[0], rtol=0, atol=0)
    if teacher:  # really the teacher, not the student
        student = reference_vit(source_state_dict, 'backbone.')
        with torch.no_grad():
            assert not torch.allclose(student(x)[0], vit(x)[0])


def test_timm_round_trip(tool, checkpoint, source_state_dict, tmp_path):
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    out = tmp_path / 'vit_timm.pth'
    assert tool.main([str(checkpoint), '--format', 'timm', '--out', str(out)]) == 0
    dims = TINY_VIT['embed_dims']
    timm_vit = TimmViT(img_size=PRETRAIN_IMG_SIZE, patch_size=PATCH_SIZE, embed_dim=dims,
                       depth=TINY_VIT['num_layers'], num_heads=TINY_VIT['num_heads'],
                       mlp_ratio=TINY_VIT['feedforward_channels'] / dims, qkv_bias=True,
                       num_classes=0, global_pool='token').eval()
    timm_vit.load_state_dict(torch.load(out, map_location='cpu', weights_only=True),
                             strict=True)
    reference = reference_vit(source_state_dict, 'backbone.')
    x = torch.randn(2, 3, PRETRAIN_IMG_SIZE, PRETRAIN_IMG_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(timm_vit.forward_features(x), reference(x)[0],
                                   rtol=1e-5, atol=1e-5)


def test_default_output_path(tool, checkpoint):
    assert tool.default_out_path('w/epoch_100.pth', True, 'timm') == \
        'w/epoch_100_teacher_backbone_timm.pth'
    assert tool.main([str(checkpoint)]) == 0
    assert (checkpoint.parent / 'epoch_1_student_backbone.pth').is_file()


def test_not_a_gtsa_checkpoint(tool, tmp_path, capsys):
    path = tmp_path / 'retinanet.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1)}), path)
    assert tool.main([str(path)]) == 1
    error = capsys.readouterr().err
    assert 'retinanet.pth' in error and "'backbone.'" in error


def test_timm_keys_with_layer_scale_and_unknown_keys():
    from mmpretrain.models import VisionTransformer
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    from gtsa_mm.downstream import mmpretrain_vit_to_timm, timm_key

    arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    vit = VisionTransformer(arch=arch, img_size=32, patch_size=16, out_type='raw',
                            layer_scale_init_value=0.1)
    vit.eval()
    timm_vit = TimmViT(img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2,
                       mlp_ratio=2, init_values=0.1, num_classes=0).eval()
    timm_vit.load_state_dict(mmpretrain_vit_to_timm(vit.state_dict()), strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(timm_vit.forward_features(x), vit(x)[0])
    with pytest.raises(KeyError, match='ln2.weight'):
        timm_key('ln2.weight')
