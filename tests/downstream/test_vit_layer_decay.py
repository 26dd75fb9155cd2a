"""ViTLayerDecayOptimWrapperConstructor: per-layer learning rates and weight decay of an
mmpretrain ViT inside a classifier, a detector and a segmentor."""
from __future__ import annotations

import pytest
import torch
from downstream_helpers import TINY_VIT, tiny_linear_cfg, tiny_mask_rcnn_cfg, tiny_upernet_cfg
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from gtsa_mm.engine.optimizers.vit_layer_decay_constructor import vit_layer_id

DEPTH = TINY_VIT['num_layers']  # 4 blocks: layer ids 0 (embeddings) .. 5 (head)


def lr_and_wd(optim_wrapper) -> dict[torch.nn.Parameter, tuple[float, float]]:
    """Each parameter's (lr, weight_decay); fails if one sits in two groups."""
    result = {}
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            assert param not in result
            result[param] = (group['lr'], group['weight_decay'])
    return result


def build_model(cfg, scope: str):
    init_default_scope(scope)
    from mmengine.registry import MODELS

    return MODELS.build(cfg.model)


def tiny_classifier():
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS

    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch=dict(TINY_VIT), img_size=32,
                      patch_size=16, out_type='featmap', final_norm=True),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=TINY_VIT['embed_dims'])))


def test_classifier_lrs_and_weight_decay():
    model = tiny_classifier()
    optim = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
        constructor='ViTLayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.5)))
    got = lr_and_wd(optim)
    params = dict(model.named_parameters())
    assert set(got) == set(params.values())
    expected = {
        'backbone.cls_token': (0.5 ** 5, 0.0),
        'backbone.pos_embed': (0.5 ** 5, 0.0),
        'backbone.patch_embed.projection.weight': (0.5 ** 5, 0.05),
        'backbone.patch_embed.projection.bias': (0.5 ** 5, 0.0),
        'backbone.layers.0.attn.qkv.weight': (0.5 ** 4, 0.05),
        'backbone.layers.0.ln1.weight': (0.5 ** 4, 0.0),
        'backbone.layers.1.ffn.layers.0.0.weight': (0.5 ** 3, 0.05),
        'backbone.layers.2.attn.proj.bias': (0.5 ** 2, 0.0),
        'backbone.layers.3.ffn.layers.1.weight': (0.5, 0.05),
        'backbone.ln1.weight': (1.0, 0.0),
        'head.fc.weight': (1.0, 0.05),
        'head.fc.bias': (1.0, 0.0),
    }
    for name, (lr, wd) in expected.items():
        assert got[params[name]] == pytest.approx((lr, wd)), name


def test_detector_from_config(gtsa_checkpoint, coco_tiny, tmp_path):
    cfg = tiny_mask_rcnn_cfg(gtsa_checkpoint, coco_tiny, tmp_path)
    model = build_model(cfg, 'mmdet')
    got = lr_and_wd(build_optim_wrapper(model, cfg.optim_wrapper))
    base, rate = 5e-5, 0.75
    for i in range(DEPTH):
        qkv = model.backbone.layers[i].attn.qkv
        assert got[qkv.weight] == pytest.approx((base * rate ** (DEPTH - i), 0.05))
        assert got[qkv.bias] == pytest.approx((base * rate ** (DEPTH - i), 0.0))
    assert got[model.backbone.pos_embed] == pytest.approx((base * rate ** (DEPTH + 1), 0.0))
    fpn_conv = model.neck[1].fpn_convs[0].conv.weight
    assert got[fpn_conv] == pytest.approx((base, 0.05))
    assert got[model.roi_head.bbox_head.fc_cls.weight] == pytest.approx((base, 0.05))
    assert got[model.neck[0].upsample_4x[1].weight] == pytest.approx((base, 0.0))  # BN


def test_segmentor_from_config(gtsa_checkpoint, ade_tiny, tmp_path):
    cfg = tiny_upernet_cfg(gtsa_checkpoint, ade_tiny, tmp_path)
    model = build_model(cfg, 'mmseg')
    got = lr_and_wd(build_optim_wrapper(model, cfg.optim_wrapper))
    base, rate = 6e-5, 0.65
    assert got[model.backbone.patch_embed.projection.weight] == pytest.approx(
        (base * rate ** (DEPTH + 1), 0.01))
    assert got[model.backbone.layers[DEPTH - 1].ffn.layers[1].weight] == pytest.approx(
        (base * rate, 0.01))
    assert got[model.decode_head.conv_seg.weight] == pytest.approx((base, 0.01))
    assert got[model.auxiliary_head.conv_seg.bias] == pytest.approx((base, 0.0))


def test_frozen_backbone_is_left_out(gtsa_checkpoint, cls_tiny, tmp_path):
    # The linear probe uses the plain constructor; ours must also skip frozen params.
    cfg = tiny_linear_cfg(gtsa_checkpoint, cls_tiny, tmp_path)
    model = build_model(cfg, 'mmpretrain')
    optim = build_optim_wrapper(model, dict(
        optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4),
        constructor='ViTLayerDecayOptimWrapperConstructor'))
    assert set(lr_and_wd(optim)) == set(model.head.parameters())


def test_layer_ids():
    vits = {'backbone.': 12}
    assert vit_layer_id('backbone.cls_token', vits) == 0
    assert vit_layer_id('backbone.pre_norm.weight', vits) == 0
    assert vit_layer_id('backbone.layers.10.ln1.weight', vits) == 11
    assert vit_layer_id('backbone.ln1.bias', vits) == 13
    assert vit_layer_id('neck.0.upsample_2x.0.weight', vits) == 13
    assert vit_layer_id('layers.0.attn.qkv.weight', {'': 2}) == 1


def test_errors():
    with pytest.raises(ValueError, match='no mmpretrain VisionTransformer'):
        build_optim_wrapper(torch.nn.Linear(2, 2), dict(
            optimizer=dict(type='SGD', lr=0.1),
            constructor='ViTLayerDecayOptimWrapperConstructor'))
    with pytest.raises(ValueError, match='unsupported paramwise_cfg keys'):
        build_optim_wrapper(tiny_classifier(), dict(
            optimizer=dict(type='SGD', lr=0.1),
            constructor='ViTLayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10)})))

