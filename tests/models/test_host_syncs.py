"""No host-device syncs in the training step (checked on the CPU by dispatched operators)."""
import copy

import pytest
import torch
from mmengine.logging import MessageHub

from gtsa_mm.engine.optimizers import PerParameterClipOptimWrapper
from gtsa_mm.host_sync import HostSyncRecorder


@pytest.mark.parametrize('code, op', [
    (lambda x: x.sum().item(), 'aten._local_scalar_dense.default'),
    (lambda x: float(x.max()), 'aten._local_scalar_dense.default'),
    (lambda x: x[x > 0], 'aten.index.Tensor'),
    (lambda x: x.nonzero(), 'aten.nonzero.default'),
    (lambda x: x[:, [1, 0]], 'aten.lift_fresh.default'),
    (lambda x: torch.tensor([1., 2.]) * x, 'aten.lift_fresh.default'),
    (lambda x: torch.repeat_interleave(torch.ones(2, dtype=torch.long)),
     'aten.repeat_interleave.Tensor'),
])
def test_recorder_catches_what_syncs(code, op):
    with HostSyncRecorder() as syncs:
        code(torch.randn(3, 2))
    assert [e.op for e in syncs.events] == [op]
    assert 'test_host_syncs.py' in syncs.events[0].where


def test_recorder_lets_sync_free_code_through():
    x = torch.randn(3, 2)
    with HostSyncRecorder() as syncs:
        y = (x.softmax(-1) @ x.t()).topk(2, dim=-1).values
        torch.repeat_interleave(torch.ones(2, dtype=torch.long), output_size=2)
        x.new_full((), 3.) + y.amax()
        torch.where(x > 0, x, 0.).gather(1, torch.zeros(3, 1, dtype=torch.long))
    assert not syncs.events, syncs.report()
    assert syncs.report() == 'no host-device syncs'


def _gtsa_step(model, wrapper, data):
    with wrapper.optim_context(model):
        data = model.data_preprocessor(copy.copy(data), training=True)
        losses = model.loss(data['inputs'], data['data_samples'])
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    wrapper.update_params(loss)


def test_gtsa_training_step_syncs_only_for_the_logged_grad_norm(tiny_gtsa):
    """Preprocessor -> losses -> backward -> per-parameter clip -> fused AdamW: one sync.

    MMEngine's ``OptimWrapper._clip_grad`` logs ``float(grad_norm)``; everything of
    ours (geometry batching, RoIAlign, rotations, matching, EMA, the per-parameter
    clip of the paper schedule) stays on the device.
    """
    from gtsa_test_utils import random_scene, tiny_multicrop_cfg
    from mmengine.dataset import default_collate
    from mmpretrain.registry import TRANSFORMS

    from gtsa_mm.datasets.transforms import GTSA_GEOMETRY_KEYS
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model = tiny_gtsa().train()
    crop = TRANSFORMS.build(tiny_multicrop_cfg(seed=0))
    pack = TRANSFORMS.build(dict(type='PackInputs', algorithm_keys=GTSA_GEOMETRY_KEYS))
    data = default_collate([pack(crop(dict(img=random_scene(96, 128, i)))) for i in range(2)])
    wrapper = PerParameterClipOptimWrapper(
        torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True),
        clip_grad=dict(type='per_parameter_norm', max_norm=3.0))
    _gtsa_step(model, wrapper, data)  # step 0: teacher copy, lazy state
    with HostSyncRecorder() as syncs:
        _gtsa_step(model, wrapper, data)
    assert [e.op for e in syncs.events] == ['aten._local_scalar_dense.default'], syncs.report()
    assert '_clip_grad' in syncs.events[0].where


def test_dino_loss_step_has_no_sync():
    from test_dino import build_tiny_dino
    model = build_tiny_dino()
    MessageHub.get_current_instance().update_info('max_iters', 100)
    views = [torch.randn(2, 3, 32, 32) for _ in range(2)] + [torch.randn(2, 3, 16, 16)] * 3
    model.loss(views, [])['loss'].backward()
    with HostSyncRecorder() as syncs:
        model.loss(views, [])['loss'].backward()
    assert not syncs.events, syncs.report()


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('cuda_graphs', [False, True])
def test_gtsa_step_does_not_sync_on_cuda(tiny_gtsa, tiny_batch, cuda_graphs):
    """On a GPU, CUDA's own sync detector: preprocessor -> losses -> backward never waits."""
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model = tiny_gtsa(cuda_graphs=cuda_graphs).cuda().train()
    data = tiny_batch(model, batch_size=2)  # views already on the device
    for step in range(3):  # step 0 copies the teacher (and captures the graphs)
        if step == 2:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode('error')
        try:
            with torch.autocast('cuda', dtype=torch.bfloat16):
                losses = model.loss(data['inputs'], data['data_samples'])
            sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        finally:
            torch.cuda.set_sync_debug_mode('default')
