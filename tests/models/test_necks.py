"""GTSA projector / predictor against the authors' layers, and their LayerNorm eps."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gtsa_mm.models.necks import GTSAPredictor, GTSAProjector


def authors_block(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The authors' make_block: conv, nn.LayerNorm(C, elementwise_affine=False) over
    the channels (moved last with transpose(-3, -1)), GELU."""
    y = conv(x).transpose(-3, -1)
    y = nn.LayerNorm(y.shape[-1], elementwise_affine=False)(y)
    return F.gelu(y.transpose(-3, -1))


def build(cls, **kwargs):
    torch.manual_seed(0)
    module = cls(**kwargs)
    module.init_weights()
    return module.eval()


def test_projector_equals_the_authors_residual_blocks():
    projector = build(GTSAProjector, in_channels=16, out_channels=24)
    x = torch.randn(2, 16, 6, 6)
    y = x
    for block in projector.blocks:
        y = authors_block(block.conv, y) + y
    torch.testing.assert_close(projector(x)[0], projector.proj(y))


def test_predictor_equals_the_authors_block_without_residual():
    predictor = build(GTSAPredictor, in_channels=24, hidden_channels=32, out_channels=24)
    x = torch.randn(2, 24, 6, 6)
    expected = predictor.proj(authors_block(predictor.block.conv, x))
    torch.testing.assert_close(predictor(x)[0], expected)


@pytest.mark.parametrize('cls', [GTSAProjector, GTSAPredictor])
def test_norm_eps_is_a_forward_constant_not_state(cls):
    """eps 1e-5 (the authors', nn.LayerNorm's default) is not in the state dict: a
    model built with another eps (1e-6) loads strictly and gives nearly the same maps."""
    new, old = build(cls, in_channels=32), build(cls, in_channels=32, norm_eps=1e-6)
    assert {m.norm_eps for m in new.modules() if hasattr(m, 'norm_eps')} == {1e-5}
    state = old.state_dict()
    assert list(state) == list(new.state_dict())
    new.load_state_dict(state, strict=True)
    x = torch.randn(2, 32, 6, 6)
    a, b = new(x)[0], old(x)[0]
    assert not torch.equal(a, b)
    assert ((a - b).norm() / b.norm()).item() < 1e-4
