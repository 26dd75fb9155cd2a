"""DINO baseline: loss by hand, EMA teacher moves, center updates."""
import math

import torch
from gtsa_test_utils import tiny_dino_model_cfg
from mmengine.logging import MessageHub

from gtsa_mm.models.losses import DINOLoss, dino_cross_entropy


def test_dino_cross_entropy_hand_computed():
    # 2 global teacher views, 3 student views, batch 1, 2 prototypes
    student = torch.log(torch.tensor([[[0.5, 0.5]], [[0.25, 0.75]], [[0.9, 0.1]]]))
    teacher = torch.log(torch.tensor([[[0.2, 0.8]], [[0.6, 0.4]]]))
    out = dino_cross_entropy(student, teacher, torch.zeros(2), student_temp=1.,
                             teacher_temp=1.)

    def ce(q, p):
        return -sum(qi * math.log(pi) for qi, pi in zip(q, p))

    q0, q1 = [0.2, 0.8], [0.6, 0.4]
    p = [[0.5, 0.5], [0.25, 0.75], [0.9, 0.1]]
    expected = (ce(q0, p[1]) + ce(q0, p[2]) + ce(q1, p[0]) + ce(q1, p[2])) / 4
    assert math.isclose(out.item(), expected, rel_tol=1e-5)


def test_center_updates_with_momentum():
    loss = DINOLoss(out_channels=3, center_momentum=0.9)
    teacher = torch.tensor([[[1., 2., 3.]], [[3., 2., 1.]]])
    loss(torch.randn(4, 1, 3), teacher, teacher_temp=0.04)
    torch.testing.assert_close(loss.center, 0.1 * torch.tensor([2., 2., 2.]))
    loss(torch.randn(4, 1, 3), teacher, teacher_temp=0.04)
    torch.testing.assert_close(loss.center, 0.19 * torch.tensor([2., 2., 2.]))


def build_tiny_dino():
    from mmpretrain.registry import MODELS

    import gtsa_mm  # noqa: F401
    torch.manual_seed(0)
    model = MODELS.build(tiny_dino_model_cfg(freeze_last_layer_epochs=0))
    model.init_weights()
    return model.train()


def test_teacher_is_updated_every_step():
    model = build_tiny_dino()
    MessageHub.get_current_instance().update_info('max_iters', 100)
    views = [torch.randn(2, 3, 32, 32) for _ in range(2)] + [torch.randn(2, 3, 16, 16)] * 3
    optim = torch.optim.SGD(model.parameters(), lr=0.5)
    model.loss(views, [])  # step 0: copy
    teacher = [p.clone() for p in model.target_net.parameters()]
    for _ in range(2):
        optim.zero_grad()
        model.loss(views, [])['loss'].backward()
        optim.step()
    moved = [not torch.equal(a, b) for a, b in zip(teacher, model.target_net.parameters())]
    assert any(moved)
    assert model.target_net.steps.item() == 3
    assert model.dino_loss.center.abs().sum() > 0


def test_last_layer_frozen_in_first_epoch():
    model = build_tiny_dino()
    model.freeze_last_layer_epochs = 1
    MessageHub.get_current_instance().update_info('epoch', 0)
    views = [torch.randn(2, 3, 32, 32) for _ in range(2)]
    model.loss(views, [])['loss'].backward()
    v = model.head.last_layer.parametrizations.weight.original1
    assert v.grad is None
    assert model.head.mlp[0].weight.grad is not None
