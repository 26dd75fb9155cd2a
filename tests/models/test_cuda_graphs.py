"""GTSA(cuda_graphs=True): same state dict, same losses; replayed graphs equal eager on CUDA."""
import copy

import pytest
import torch
from gtsa_test_utils import assert_steps_match, sgd_step
from mmengine.logging import MessageHub


def test_option_adds_nothing_to_the_state_dict(tiny_gtsa):
    plain, graphed = tiny_gtsa(), tiny_gtsa(cuda_graphs=True)
    assert list(plain.state_dict()) == list(graphed.state_dict())
    graphed.load_state_dict(plain.state_dict())  # strict: checkpoints interchange


def test_cpu_runs_eagerly_with_identical_losses(tiny_gtsa, tiny_batch):
    MessageHub.get_current_instance().update_info('max_iters', 100)
    plain, graphed = tiny_gtsa().train(), tiny_gtsa(cuda_graphs=True).train()
    data = tiny_batch(plain, batch_size=2)
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (plain, graphed)]
    for _ in range(2):
        (a, ga), (b, gb) = (sgd_step(m, copy.copy(data), o) for m, o in zip((plain, graphed), opts))
        assert a == b
        torch.testing.assert_close(ga, gb, rtol=0, atol=0)


def test_eval_mode_and_no_grad_use_the_modules_directly(tiny_gtsa, tiny_batch):
    model = tiny_gtsa(cuda_graphs=True).eval()
    data = tiny_batch(model, batch_size=2)
    assert not model._use_graphs(data['inputs'][0])
    with torch.no_grad():
        model.train()
        assert not model._use_graphs(data['inputs'][0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('amp_dtype', [None, torch.bfloat16])
def test_cuda_graphs_match_eager_step_by_step(tiny_gtsa, tiny_batch, amp_dtype):
    MessageHub.get_current_instance().update_info('max_iters', 100)
    plain = tiny_gtsa().cuda().train()
    graphed = tiny_gtsa(cuda_graphs=True).cuda().train()
    graphed.load_state_dict(plain.state_dict())
    batches = [tiny_batch(plain, batch_size=2, seed=s) for s in range(2)]
    batches = [plain.data_preprocessor(b, training=True) for b in batches]
    assert_steps_match(plain, graphed, batches, amp_dtype)  # step 0 captures, then replays
    assert graphed._cuda_graphs._graphs, 'no graph was captured'
