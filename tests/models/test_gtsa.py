"""The GTSA algorithm: batched losses equal a per-pair loop, gradients, EMA teacher."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub

from gtsa_mm.models.utils import roi_align


def reference_losses(model, inputs, data_samples):
    """Straightforward per-pair, per-sample GTSA losses (the authors' structure)."""
    g, views = data_samples[0].global_region_boxes.shape[0], len(inputs)
    head = model.head
    with torch.no_grad():
        teacher = [model.target_net(inputs[t])[0] for t in range(g)]
    feats = [model.backbone(v)[-1] for v in inputs]
    preds = [head.predictor(model.neck(f))[0] for f in feats]
    region, patch, count = 0., 0., 0
    for t in range(g):
        for s in range(views):
            if s == t:
                continue
            size = head.region_sizes[0] if s < g else head.region_sizes[1]
            per_sample_region, per_sample_patch = [], []
            for b, sample in enumerate(data_samples):
                box_t = sample.global_region_boxes[t, s]
                box_s = sample.view_region_boxes[s, t]
                rt = roi_align(teacher[t][b:b + 1], torch.cat([torch.zeros(1), box_t])[None],
                               size, 1 / head.patch_size)
                rs = roi_align(preds[s][b:b + 1], torch.cat([torch.zeros(1), box_s])[None],
                               size, 1 / head.patch_size)
                k = int(sample.rotation_label[s] - sample.rotation_label[t])
                rt = torch.rot90(rt, k, dims=(-2, -1))
                per_sample_region.append(-F.cosine_similarity(rs, rt, dim=1).mean())
                st = F.normalize(preds[s][b].flatten(1).t(), dim=-1)  # (Ns, C)
                tt = F.normalize(teacher[t][b].flatten(1).t(), dim=-1)  # (Nt, C)
                num = st.shape[0] // 2
                sim = st @ tt.t()
                s2t = torch.sort(sim.max(1).values, descending=True).values[:num].mean()
                t2s = torch.sort(sim.max(0).values, descending=True).values[:num].mean()
                per_sample_patch.append(-0.5 * (s2t + t2s))
            region = region + torch.stack(per_sample_region).mean()
            patch = patch + torch.stack(per_sample_patch).mean()
            count += 1
    logits = [head.rotation_head(f) for f in feats]
    rot = torch.stack([F.cross_entropy(lg, torch.stack([s.rotation_label[v]
                                                        for s in data_samples]))
                       for v, lg in enumerate(logits)]).mean()
    return region / count, patch / count, 0.5 * rot


def test_batched_losses_equal_per_pair_loop(tiny_gtsa, tiny_batch):
    model = tiny_gtsa().train()
    data = tiny_batch(model, batch_size=3)
    losses = model.loss(data['inputs'], data['data_samples'])
    region, patch, rot = reference_losses(model, data['inputs'], data['data_samples'])
    torch.testing.assert_close(losses['loss_region'], region, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(losses['loss_patch'], 0.5 * patch, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(losses['loss_rotation'], rot, atol=1e-5, rtol=1e-4)
    assert set(losses) >= {'loss_region', 'loss_patch', 'loss_rotation'}


def test_gradients_reach_student_never_teacher(tiny_gtsa, tiny_batch):
    model = tiny_gtsa().train()
    data = tiny_batch(model)
    losses = model.loss(data['inputs'], data['data_samples'])
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    for name, module in [('backbone', model.backbone), ('neck', model.neck),
                         ('predictor', model.head.predictor),
                         ('rotation_head', model.head.rotation_head)]:
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads), name
        assert sum(g.abs().sum() for g in grads) > 0, name
    assert all(p.grad is None for p in model.target_net.parameters())


def test_teacher_follows_ema_with_scheduled_momentum(tiny_gtsa, tiny_batch):
    model = tiny_gtsa(base_momentum=0.004, end_momentum=0.).train()
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 10)
    data = tiny_batch(model)
    model.loss(data['inputs'], data['data_samples'])  # step 0 copies the student
    student = dict(model.backbone.named_parameters())
    for name, p in model.target_net.module[0].named_parameters():
        torch.testing.assert_close(p, student[name])
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(torch.randn_like(p))
    before = {n: p.clone() for n, p in model.target_net.module[0].named_parameters()}
    model.loss(data['inputs'], data['data_samples'])  # step 1
    teacher_momentum = 1 - 0.004 * (math.cos(math.pi * 1 / 10) + 1) / 2
    for name, p in model.target_net.module[0].named_parameters():
        expected = teacher_momentum * before[name] + (1 - teacher_momentum) * student[name]
        torch.testing.assert_close(p, expected, atol=1e-6, rtol=1e-5)


def test_patch_loss_is_zero_but_reported_during_warmup(tiny_gtsa, tiny_batch):
    model = tiny_gtsa(head=dict(patch_loss=dict(type='PatchCorrespondenceLoss', loss_weight=0.5,
                                                warmup_epochs=2))).train()
    hub = MessageHub.get_current_instance()
    data = tiny_batch(model)
    hub.update_info('epoch', 1)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert losses['loss_patch'].item() == 0 and losses['patch_similarity'].item() > 0
    hub.update_info('epoch', 2)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert losses['loss_patch'].item() < 0
    hub.update_info('epoch', 0)


REPO = Path(__file__).resolve().parents[2]
PRETRAIN_CONFIGS = {
    'paper': REPO / 'configs/gtsa/gtsa_vit-small-p16_8xb64-amp-coslr-100e_coco.py',
    'demo': REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py',
}


@pytest.mark.parametrize('name,zero_epochs', [('paper', list(range(11))),
                                              ('demo', [0, 1, 2])])
def test_patch_loss_starts_where_the_authors_start_it(tiny_gtsa, name, zero_epochs):
    """The authors use the patch loss when ``warmup_epochs < epoch`` (0-based epochs,
    ``warmup_epochs`` = the lr warm-up). Our configs' ``model.head.patch_loss`` gives
    the same weight at every epoch, through MessageHub's ``epoch`` as MMEngine's loop
    sets it, and ``warmup_iters = (warmup_epochs + 1) * iters_per_epoch`` the same at
    every iteration."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(PRETRAIN_CONFIGS[name]))
    warmup_epochs, iters_per_epoch = cfg.warmup_epochs, 5
    by_epoch = tiny_gtsa(head=dict(patch_loss=cfg.model.head.patch_loss.to_dict()))
    by_iter = tiny_gtsa(head=dict(patch_loss=dict(
        cfg.model.head.patch_loss.to_dict(), warmup_iters=(warmup_epochs + 1) * iters_per_epoch)))
    hub = MessageHub.get_current_instance()
    zeros = []
    try:
        for epoch in range(cfg.train_cfg.max_epochs):
            authors = 0.5 if warmup_epochs < epoch else 0.
            hub.update_info('epoch', epoch)
            assert by_epoch.head.patch_loss.current_weight() == authors, epoch
            for it in range(epoch * iters_per_epoch, (epoch + 1) * iters_per_epoch):
                hub.update_info('iter', it)
                assert by_iter.head.patch_loss.current_weight() == authors, it
            if authors == 0:
                zeros.append(epoch)
    finally:
        hub.update_info('epoch', 0)
        hub.update_info('iter', 0)
    assert zeros == zero_epochs


def test_default_patch_loss_warmup_is_the_papers(tiny_gtsa, tiny_batch):
    """GTSAHead's default: loss_patch is 0 through 0-based epoch 10 and on at epoch 11."""
    from gtsa_test_utils import tiny_gtsa_model_cfg
    from mmpretrain.registry import MODELS
    cfg = tiny_gtsa_model_cfg()
    cfg['head'].pop('patch_loss')
    model = MODELS.build(cfg).train()
    data = tiny_batch(model)
    hub = MessageHub.get_current_instance()
    try:
        hub.update_info('epoch', 10)
        assert model.loss(data['inputs'], data['data_samples'])['loss_patch'].item() == 0
        hub.update_info('epoch', 11)
        assert model.loss(data['inputs'], data['data_samples'])['loss_patch'].item() < 0
    finally:
        hub.update_info('epoch', 0)


@pytest.mark.parametrize('overrides,missing,changed', [
    (dict(rotation_head=None), 'loss_rotation', None),
    (dict(patch_loss=None), 'loss_patch', None),
    (dict(region_loss=dict(type='RegionLoss', rotate_target=False)), None, 'loss_region'),
    (dict(target='global'), None, 'loss_region'),
])
def test_ablation_switches_change_what_they_claim(tiny_gtsa, tiny_batch, overrides, missing,
                                                  changed):
    base = tiny_gtsa().train()
    ablated = tiny_gtsa(head=overrides).train()
    ablated.load_state_dict(base.state_dict(), strict=False)  # same weights, one switch
    data = tiny_batch(base, seed=1)
    ref = base.loss(data['inputs'], data['data_samples'])
    out = ablated.loss(data['inputs'], data['data_samples'])
    if missing:
        assert missing not in out
        assert missing in ref
    for key in ('loss_region', 'loss_patch', 'loss_rotation'):
        if key in out and key != changed:
            torch.testing.assert_close(out[key], ref[key])
    if changed:
        assert not torch.allclose(out[changed], ref[changed])


def test_teacher_stays_in_eval_mode(tiny_gtsa):
    model = tiny_gtsa().train()
    assert model.backbone.training and not model.target_net.training


def test_foreach_ema_equals_mmpretrain_cosine_ema():
    from mmpretrain.models.utils import CosineEMA

    from gtsa_mm.models.utils import ForeachCosineEMA
    MessageHub.get_current_instance().update_info('max_iters', 7)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.LayerNorm(5))
    ours, ref = ForeachCosineEMA(net, momentum=0.1), CosineEMA(net, momentum=0.1)
    for _ in range(5):
        ours.update_parameters(net)
        ref.update_parameters(net)
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    # resume: a fresh EMA loading the state continues identically
    resumed = ForeachCosineEMA(net, momentum=0.1)
    resumed.load_state_dict(ours.state_dict())
    ours.update_parameters(net)
    resumed.update_parameters(net)
    for a, b in zip(ours.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b)
