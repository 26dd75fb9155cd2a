"""Per-parameter gradient clipping (the GTSA / DINO authors' rule) as MMEngine optim wrappers."""
from __future__ import annotations

import copy
import glob
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, build_optim_wrapper
from torch import nn

import gtsa_mm  # noqa: F401
from gtsa_mm.engine.optimizers import (
    PerParameterClipAmpOptimWrapper,
    PerParameterClipOptimWrapper,
    clip_grad_norm_per_parameter_,
    disable_amp,
    enable_amp,
)
from gtsa_mm.host_sync import HostSyncRecorder

REPO = Path(__file__).resolve().parents[2]
SCHEDULE = REPO / 'configs/_base_/schedules/gtsa_adamw-coslr-100e.py'
PAPER_CONFIGS = sorted(glob.glob(str(REPO / 'configs/gtsa/*_8xb64-*.py')) +
                       glob.glob(str(REPO / 'configs/dino/*_8xb64-*.py')))
DEMO_CONFIG = REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py'
PER_PARAMETER = dict(type='per_parameter_norm', max_norm=3.0)


def authors_clip(model: nn.Module, clip: float) -> list[float]:
    """The authors' loop, restated (DINO's clip_gradients in their util/misc.py)."""
    norms = []
    for p in model.parameters():
        if p.grad is not None:
            param_norm = p.grad.data.norm(2)
            norms.append(param_norm.item())
            clip_coef = clip / (param_norm + 1e-6)
            if clip_coef < 1:
                p.grad.data.mul_(clip_coef)
    return norms


class Net(nn.Module):
    """Tensors of several shapes; one frozen, one that gets no gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 4)
        self.norm = nn.LayerNorm(4)
        self.unused = nn.Linear(4, 4)  # requires grad, never gets one
        self.frozen = nn.Parameter(torch.ones(4), requires_grad=False)


def with_grads(norms: dict[str, float], seed: int = 0) -> Net:
    """A ``Net`` whose gradients have the given L2 norms (others: no gradient)."""
    torch.manual_seed(seed)
    net = Net()
    for name, p in net.named_parameters():
        if name in norms:
            g = torch.randn_like(p)
            p.grad = g * (norms[name] / g.norm())
    return net


MIXED = {'conv.weight': 40., 'conv.bias': 0.5, 'fc.weight': 3.5, 'fc.bias': 2.9,
         'norm.weight': 1e-3, 'norm.bias': 12.}


def test_equals_the_authors_loop_bit_for_bit():
    ours, theirs = with_grads(MIXED), with_grads(MIXED)
    before = torch.cat([p.grad.flatten() for p in ours.parameters() if p.grad is not None])
    total = clip_grad_norm_per_parameter_(ours.parameters(), 3.0)
    authors_clip(theirs, 3.0)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        if name in MIXED:
            assert torch.equal(p.grad, q.grad), name
            assert p.grad.norm() <= 3.0 + 1e-5
        else:
            assert p.grad is None and q.grad is None, name
    clipped = {n for n, v in MIXED.items() if v > 3.0}
    assert clipped == {'conv.weight', 'fc.weight', 'norm.bias'}
    for name, p in ours.named_parameters():
        if name in clipped:
            torch.testing.assert_close(p.grad.norm(), torch.tensor(3.0))
    # the returned norm is the joint norm before clipping, as clip_grad_norm_ returns it
    torch.testing.assert_close(total, before.norm())


def test_grads_below_the_threshold_are_unchanged():
    net = with_grads({'conv.weight': 2.99, 'fc.weight': 0.1, 'fc.bias': 1e-8})
    before = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    clip_grad_norm_per_parameter_(net.parameters(), 3.0)
    for name, grad in before.items():
        assert torch.equal(dict(net.named_parameters())[name].grad, grad), name


def test_much_looser_than_the_global_norm_clip():
    ours, mmengine = with_grads(MIXED), with_grads(MIXED)
    clip_grad_norm_per_parameter_(ours.parameters(), 3.0)
    torch.nn.utils.clip_grad_norm_(mmengine.parameters(), 3.0)
    kept = ours.fc.bias.grad.norm() / mmengine.fc.bias.grad.norm()
    assert kept > 10  # fc.bias (2.9) untouched here, scaled by 3 / ~42.5 by the global clip


def test_the_clip_itself_does_not_sync():
    net = with_grads(MIXED)
    with HostSyncRecorder() as syncs:
        clip_grad_norm_per_parameter_(net.parameters(), 3.0)
    assert not syncs.events, syncs.report()


def test_wrapper_steps_with_clipped_grads_and_logs_one_grad_norm():
    ours, theirs = with_grads(MIXED), with_grads(MIXED)
    wrapper = build_optim_wrapper(ours, dict(
        type='PerParameterClipOptimWrapper', optimizer=dict(type='SGD', lr=1.0),
        clip_grad=dict(PER_PARAMETER)))
    assert type(wrapper) is PerParameterClipOptimWrapper
    assert wrapper.clip_func is clip_grad_norm_per_parameter_
    before = {n: p.detach().clone() for n, p in ours.named_parameters()}
    joint = torch.cat([p.grad.flatten() for p in ours.parameters() if p.grad is not None]).norm()
    wrapper.step()
    authors_clip(theirs, 3.0)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        expected = before[name] - (q.grad if q.grad is not None else 0.)
        assert torch.equal(p.detach(), expected), name
    logged = MessageHub.get_current_instance().get_scalar('train/grad_norm').current()
    assert logged == pytest.approx(float(joint), rel=1e-6)


def tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 4))


def fake_gpu(monkeypatch):
    """MMEngine's AmpOptimWrapper refuses to build without a GPU; let it on the CPU."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp_module
    monkeypatch.setattr(amp_module, 'is_cuda_available', lambda: True)


def test_float16_amp_unscales_before_clipping(monkeypatch):
    """MMEngine's AMP step (scale -> backward -> unscale_ -> clip -> step) equals the
    authors' fp16 loop with the same GradScaler, on the CPU.

    ``AmpOptimWrapper`` asserts a GPU in ``__init__`` (patched here) and builds
    ``torch.cuda.amp.GradScaler``, which disables itself without CUDA; both paths use
    a CPU ``torch.amp.GradScaler`` instead, with a large scale so a clip before the
    unscale would clip everything.
    """
    fake_gpu(monkeypatch)
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(1))
    target = torch.randint(0, 4, (8,), generator=torch.Generator().manual_seed(2))
    ours, theirs = tiny_net(), tiny_net()
    before = [p.detach().clone() for p in ours.parameters()]
    wrapper = PerParameterClipAmpOptimWrapper(
        optimizer=torch.optim.SGD(ours.parameters(), lr=0.1), clip_grad=dict(PER_PARAMETER),
        dtype='float16')
    wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2. ** 8)
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler('cpu', init_scale=2. ** 8)

    def loss_of(net):
        with torch.autocast('cpu', dtype=torch.float16):
            out = net(x)
        assert out.dtype == torch.float16
        return 5. * nn.functional.cross_entropy(out.float(), target)

    wrapper.update_params(loss_of(ours))
    scaler.scale(loss_of(theirs)).backward()
    scaler.unscale_(optimizer)
    norms = authors_clip(theirs, 3.0)
    scaler.step(optimizer)
    scaler.update()
    assert min(norms) < 3.0 < max(norms) < 65504 / 2 ** 8  # some clipped, no overflow
    for p, q, b in zip(ours.parameters(), theirs.parameters(), before):
        assert torch.equal(p.detach(), q.detach()) and not torch.equal(p.detach(), b)
    assert wrapper.loss_scaler.get_scale() == scaler.get_scale()


def test_bfloat16_amp_through_enable_amp_on_the_cpu(monkeypatch):
    """--amp-dtype bfloat16 on the paper schedule: the per-parameter AMP wrapper, no
    loss scaling; MMEngine's CPU autocast is bf16-only, so this path runs end to end."""
    fake_gpu(monkeypatch)
    cfg = enable_amp(Config.fromfile(str(SCHEDULE)).optim_wrapper, 'bfloat16')
    cfg.optimizer.update(type='SGD', lr=0.1, weight_decay=0.)
    for key in ('betas', 'fused'):
        cfg.optimizer.pop(key)
    ours, theirs = tiny_net(), tiny_net()
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1)
    wrapper = build_optim_wrapper(ours, cfg)
    assert type(wrapper) is PerParameterClipAmpOptimWrapper
    assert wrapper.cast_dtype == torch.bfloat16 and not wrapper.loss_scaler.is_enabled()
    x = torch.randn(8, 16)
    with wrapper.optim_context(ours):
        out = ours(x)
    assert out.dtype == torch.bfloat16
    wrapper.update_params(100. * out.float().pow(2).mean())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        ref = theirs(x)
    (100. * ref.float().pow(2).mean()).backward()
    norms = authors_clip(theirs, 3.0)
    optimizer.step()
    assert max(norms) > 3.0
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(p.detach(), q.detach())


@pytest.mark.parametrize('path', PAPER_CONFIGS + [str(DEMO_CONFIG)], ids=lambda p: Path(p).name)
def test_shipped_pretraining_configs_build_the_per_parameter_wrapper(path, monkeypatch):
    fake_gpu(monkeypatch)
    cfg = Config.fromfile(path).optim_wrapper
    assert cfg.clip_grad == PER_PARAMETER
    amp = 'Amp' in cfg.type
    assert cfg.type == ('PerParameterClipAmpOptimWrapper' if amp
                        else 'PerParameterClipOptimWrapper')
    wrapper = build_optim_wrapper(tiny_net(), cfg)
    assert isinstance(wrapper, PerParameterClipAmpOptimWrapper if amp
                      else PerParameterClipOptimWrapper)
    assert wrapper.clip_func is clip_grad_norm_per_parameter_
    assert wrapper.clip_grad_kwargs == dict(max_norm=3.0)


@pytest.mark.parametrize('wrapper_type,amp_type', [
    ('PerParameterClipOptimWrapper', 'PerParameterClipAmpOptimWrapper'),
    ('PerParameterClipAmpOptimWrapper', 'PerParameterClipAmpOptimWrapper'),
    ('OptimWrapper', 'AmpOptimWrapper'),
    ('AmpOptimWrapper', 'AmpOptimWrapper'),
])
def test_amp_switches_keep_the_clip_rule(wrapper_type, amp_type):
    cfg = dict(type=wrapper_type, optimizer=dict(type='SGD', lr=0.1),
               clip_grad=dict(PER_PARAMETER))
    on = enable_amp(copy.deepcopy(cfg), 'float16')
    assert on['type'] == amp_type and on['dtype'] == 'float16'
    off = disable_amp(on)
    assert off['type'] == amp_type.replace('Amp', '')
    assert 'dtype' not in off and 'loss_scale' not in off
    assert off['clip_grad'] == PER_PARAMETER


def test_global_norm_clipping_stays_selectable():
    """``clip_grad.type='norm'`` (or no type) is MMEngine's joint-norm clip, also with
    our wrapper; a plain OptimWrapper asked for the per-parameter rule fails loudly."""
    net = tiny_net()
    optimizer = dict(type='SGD', lr=0.1)
    for clip in (dict(type='norm', max_norm=3.0), dict(max_norm=3.0)):
        wrapper = build_optim_wrapper(net, dict(type='PerParameterClipOptimWrapper',
                                                optimizer=optimizer, clip_grad=clip))
        assert wrapper.clip_func is torch.nn.utils.clip_grad_norm_
    wrapper = build_optim_wrapper(net, dict(type='OptimWrapper', optimizer=optimizer))
    assert wrapper.clip_grad_kwargs is None
    with pytest.raises(ValueError, match='per_parameter_norm'):
        OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1),
                     clip_grad=dict(PER_PARAMETER))
    with pytest.raises(TypeError, match='max_norm'):
        PerParameterClipOptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1),
                                     clip_grad=dict(type='per_parameter_norm', norm_type=2))
