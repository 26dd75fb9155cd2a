"""Regional compilation of the ViT layers (GTSA(compile_layers=...)): same numbers as eager,
one graph for all layers, no state-dict change."""
import copy

import pytest
import torch
from gtsa_test_utils import assert_steps_match, sgd_step, tiny_gtsa_model_cfg
from mmengine.logging import MessageHub
from torch._dynamo.utils import counters

from gtsa_mm.models.utils.compile import DropPathRate, _replace_drop_paths, compile_vit_layers


def tiny_vit(num_layers=2, drop_path_rate=0.):
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch=dict(embed_dims=32, num_layers=num_layers, num_heads=2,
                                      feedforward_channels=64),
                            img_size=32, patch_size=8, drop_path_rate=drop_path_rate,
                            out_type='featmap')
    vit.init_weights()
    vit.train()
    return vit


def fwd_bwd(vit, x, seed=1):
    torch.manual_seed(seed)
    out = vit(x)[-1]
    (out.float() ** 2).mean().backward()
    grads = torch.cat([p.grad.flatten() for p in vit.parameters() if p.grad is not None])
    return out.detach(), grads


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def test_drop_path_rate_keeps_or_drops_whole_samples_and_rescales():
    x = torch.randn(4000, 3, 5) + 3.
    module = DropPathRate(0.3).train()
    torch.manual_seed(0)
    out = module(x)
    kept = out[:, 0, 0] != 0
    scale = kept.float().view(-1, 1, 1) / 0.7
    torch.testing.assert_close(out, x * scale)  # whole samples kept (x 1 / 0.7) or dropped
    assert abs(kept.float().mean().item() - 0.7) < 0.03
    assert module.eval()(x) is x
    assert torch.equal(DropPathRate(0.).train()(x), x)


def test_drop_path_rate_never_doubles_a_bfloat16_branch():
    # MMCV's rule adds the rate to a random number in the input dtype: in bfloat16
    # 0.999 + 0.998 rounds to 2.0, a mask of 2. Here the mask is float32.
    x = torch.ones(20000, 4, dtype=torch.bfloat16)
    out = DropPathRate(1e-3).train()(x)
    assert out.dtype == torch.bfloat16
    assert set(out[:, 0].float().unique().tolist()) <= {0., torch.tensor(1 / 0.999).bfloat16()
                                                        .item()}


@pytest.mark.parametrize('rate', [-0.1, 1., 1.5])
def test_drop_path_rate_rejects_rates_outside_0_1(rate):
    with pytest.raises(ValueError, match='drop_prob'):
        DropPathRate(rate)


def test_replaced_drop_paths_carry_the_layer_rates():
    from mmcv.cnn.bricks.drop import DropPath
    vit = tiny_vit(num_layers=3, drop_path_rate=0.2)
    before = [float(m.drop_prob) for m in vit.modules() if isinstance(m, DropPath)]
    for layer in vit.layers:
        _replace_drop_paths(layer, torch.device('cpu'))
    after = [m.drop_prob for m in vit.modules() if isinstance(m, DropPathRate)]
    assert before == after and len(after) == 6 and after[-1] == pytest.approx(0.2)
    assert not any(isinstance(m, DropPath) for m in vit.modules())


def test_compiled_layers_give_the_eager_outputs_and_gradients():
    x = torch.randn(3, 3, 32, 32)
    eager = tiny_vit(drop_path_rate=0.2)
    compiled = copy.deepcopy(eager)
    for layer in eager.layers:  # same drop-path rule (and random stream) without compiling
        _replace_drop_paths(layer, torch.device('cpu'))
    compile_vit_layers(compiled, backend='aot_eager')
    for seed in (1, 2):
        for vit in (eager, compiled):
            vit.zero_grad()
        (out_e, g_e), (out_c, g_c) = fwd_bwd(eager, x, seed), fwd_bwd(compiled, x, seed)
        torch.testing.assert_close(out_c, out_e)
        torch.testing.assert_close(g_c, g_e)
    assert counters['stats']['unique_graphs'] >= 1, 'nothing was compiled'


def test_one_graph_per_shape_and_grad_mode_for_all_layers():
    vit = compile_vit_layers(tiny_vit(num_layers=4, drop_path_rate=0.1), backend='eager')
    for size in (32, 16, 32):  # global-like, local-like, global again
        vit(torch.randn(2, 3, size, size))[-1].sum().backward()
    with torch.no_grad():  # the teacher's pass
        vit(torch.randn(2, 3, 32, 32))
    assert counters['stats']['unique_graphs'] == 3  # not 3 x 4 layers
    assert not counters['graph_break'], dict(counters['graph_break'])


def test_compile_vit_layers_rejects_modules_without_layers():
    with pytest.raises(TypeError, match='layers'):
        compile_vit_layers(torch.nn.Linear(2, 2))


def test_gtsa_option_keeps_the_state_dict_and_the_losses(tiny_gtsa, tiny_batch):
    MessageHub.get_current_instance().update_info('max_iters', 100)
    plain = tiny_gtsa().train()
    compiled = tiny_gtsa(compile_layers=dict(backend='aot_eager')).train()
    assert list(plain.state_dict()) == list(compiled.state_dict())
    compiled.load_state_dict(plain.state_dict())  # strict: checkpoints interchange
    assert all(layer._compiled_call_impl is not None
               for vit in (compiled.backbone, compiled.target_net.module[0])
               for layer in vit.layers)
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (plain, compiled)]
    for seed in range(2):
        data = tiny_batch(plain, batch_size=2, seed=seed)
        (a, ga), (b, gb) = (sgd_step(m, copy.copy(data), o)
                            for m, o in zip((plain, compiled), opts))
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key
        torch.testing.assert_close(gb, ga, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_inductor_on_cpu_matches_eager():
    x = torch.randn(2, 3, 32, 32)
    eager = tiny_vit(drop_path_rate=0.)
    compiled = compile_vit_layers(copy.deepcopy(eager))  # the default backend, inductor
    (out_e, g_e), (out_c, g_c) = fwd_bwd(eager, x), fwd_bwd(compiled, x)
    torch.testing.assert_close(out_c, out_e, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g_c, g_e, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('amp_dtype', [None, torch.bfloat16])
def test_compiled_and_graphed_step_matches_eager_on_cuda(tiny_gtsa, tiny_batch, amp_dtype):
    MessageHub.get_current_instance().update_info('max_iters', 100)
    plain = tiny_gtsa().cuda().train()
    fast = tiny_gtsa(compile_layers=True, cuda_graphs=True).cuda().train()
    fast.load_state_dict(plain.state_dict())
    batches = [plain.data_preprocessor(tiny_batch(plain, batch_size=2, seed=s), training=True)
               for s in range(2)]
    assert_steps_match(plain, fast, batches, amp_dtype)
    assert fast._cuda_graphs._graphs, 'no graph was captured'


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('compile_layers', [False, True])
def test_drop_path_draws_new_masks_at_every_graph_replay(tiny_gtsa, tiny_batch, compile_layers):
    backbone = tiny_gtsa_model_cfg()['backbone']
    feats = {}
    for rate in (0., 0.5):
        model = tiny_gtsa(backbone=dict(backbone, drop_path_rate=rate), cuda_graphs=True,
                          compile_layers=compile_layers).cuda().train()
        data = model.data_preprocessor(tiny_batch(model, batch_size=2), training=True)
        views = data['inputs']
        g = 2  # tiny_batch's GTSAMultiCrop num_global
        feats[rate] = []
        for _ in range(3):  # capture, then two replays of the same input
            feat_g, pred_g, feat_l, pred_l = model.student_passes(torch.cat(views[:g]),
                                                                  torch.cat(views[g:]))
            feats[rate].append(feat_g.detach().clone())
            (pred_g.float().mean() + pred_l.float().mean()).backward()
        assert model._cuda_graphs._graphs, 'no graph was captured'
    torch.testing.assert_close(feats[0.][1], feats[0.][2])  # deterministic without drop path
    assert not torch.allclose(feats[0.5][1], feats[0.5][2])  # fresh masks per replay
