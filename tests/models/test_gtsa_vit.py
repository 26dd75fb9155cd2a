"""GTSAVisionTransformer: the authors' (DINO's) position-embedding resize, mmpretrain's
state dict."""
import math

import pytest
import torch
import torch.nn.functional as F
from gtsa_test_utils import TINY_ARCH
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed

from gtsa_mm.models.backbones import GTSAVisionTransformer, dino_resize_pos_embed


def authors_interpolate_pos_encoding(pos_embed, w, h, patch_size):
    """The authors' visiontransformer.interpolate_pos_encoding (DINO's), restated."""
    n = pos_embed.shape[1] - 1
    class_pos_embed, patch_pos_embed = pos_embed[:, 0], pos_embed[:, 1:]
    dim = pos_embed.shape[-1]
    w0, h0 = w // patch_size + 0.1, h // patch_size + 0.1
    side = int(math.sqrt(n))
    patch_pos_embed = F.interpolate(
        patch_pos_embed.reshape(1, side, side, dim).permute(0, 3, 1, 2),
        scale_factor=(w0 / math.sqrt(n), h0 / math.sqrt(n)), mode='bicubic')
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)


@pytest.mark.parametrize('src,dst,patch', [(14, 6, 16), (8, 4, 8), (14, 7, 16)])
def test_resize_equals_the_authors_interpolation(src, dst, patch):
    torch.manual_seed(0)
    pos_embed = torch.randn(1, 1 + src * src, 24)
    ours = dino_resize_pos_embed(pos_embed, (src, src), (dst, dst))
    authors = authors_interpolate_pos_encoding(pos_embed, dst * patch, dst * patch, patch)
    assert torch.equal(ours, authors)
    by_size = resize_pos_embed(pos_embed, (src, src), (dst, dst))
    assert ours.shape == by_size.shape and not torch.allclose(ours, by_size, atol=1e-3)
    assert dino_resize_pos_embed(pos_embed, (src, src), (src, src)) is pos_embed


def tiny_vit(cls=VisionTransformer, img_size=64, **kwargs):
    torch.manual_seed(0)
    vit = cls(arch=dict(TINY_ARCH), img_size=img_size, patch_size=8, out_type='featmap',
              **kwargs)
    vit.init_weights()
    vit.eval()  # mmpretrain's BaseBackbone.train returns None
    return vit


def test_state_dict_is_mmpretrains_and_size_rule_is_mmpretrains_forward():
    ours, theirs = tiny_vit(GTSAVisionTransformer, pos_embed_resize='size'), tiny_vit()
    state = theirs.state_dict()
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in state.items()}
    ours.load_state_dict(state, strict=True)
    theirs.load_state_dict(tiny_vit(GTSAVisionTransformer).state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(ours(x)[-1], theirs(x)[-1])


def test_dino_rule_forward_equals_a_vit_carrying_the_authors_embedding():
    """At 32 px (a 4 x 4 grid of the 8 x 8 embedding) the output is mmpretrain's ViT
    built for 32 px whose embedding is the authors' interpolation of ours; at the
    embedding's own size (64 px) it is mmpretrain's ViT unchanged."""
    ours, plain = tiny_vit(GTSAVisionTransformer), tiny_vit()
    plain.load_state_dict(ours.state_dict(), strict=True)
    small = tiny_vit(img_size=32)
    state = {k: v for k, v in ours.state_dict().items() if k != 'pos_embed'}
    small.load_state_dict(state, strict=False)
    with torch.no_grad():
        small.pos_embed.copy_(authors_interpolate_pos_encoding(ours.pos_embed, 32, 32, 8))
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(ours(x)[-1], small(x)[-1], rtol=0, atol=1e-6)
    assert not torch.allclose(ours(x)[-1], plain(x)[-1], atol=1e-4)
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(ours(x)[-1], plain(x)[-1])


def test_gtsa_trains_with_it_and_keeps_the_checkpoint_layout(tiny_gtsa, tiny_batch):
    base = tiny_gtsa()
    backbone = dict(base_backbone_cfg(), type='GTSAVisionTransformer')
    model = tiny_gtsa(backbone=backbone).train()
    assert type(model.target_net.module[0]) is GTSAVisionTransformer
    assert list(model.state_dict()) == list(base.state_dict())
    data = tiny_batch(model)
    losses = model.loss(data['inputs'], data['data_samples'])
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert model.backbone.pos_embed.grad is not None


def base_backbone_cfg():
    from gtsa_test_utils import tiny_gtsa_model_cfg
    return dict(tiny_gtsa_model_cfg()['backbone'])


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match='pos_embed_resize'):
        tiny_vit(GTSAVisionTransformer, pos_embed_resize='bilinear')
