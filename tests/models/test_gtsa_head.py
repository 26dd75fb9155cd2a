"""GTSAHead's pair index and weighting rule; what GTSA reads from the batch and the backbone;
the options and checkpoint keys of the layout before the head held the predictor."""
import pytest
import torch
from mmengine.logging import MessageHub

from gtsa_mm.models.heads.gtsa_head import GTSAHead, global_pair_index


@pytest.mark.parametrize('num_global', [1, 2, 3, 4])
def test_global_pair_index_lists_every_ordered_pair_once(num_global):
    first, second, reverse = global_pair_index(num_global)
    pairs = list(zip(first.tolist(), second.tolist()))
    expected = [(a, b) for a in range(num_global) for b in range(num_global) if a != b]
    assert pairs == expected  # teacher-major, partners in order
    for p, (a, b) in enumerate(pairs):
        assert pairs[reverse[p]] == (b, a)


def test_each_loss_keeps_its_weight_and_the_patch_loss_its_warmup():
    hub = MessageHub.get_current_instance()
    head = GTSAHead(predictor=dict(type='GTSAPredictor', in_channels=8, hidden_channels=8,
                                   out_channels=8), patch_size=8,
                    rotation_head=dict(type='RotationHead', in_channels=8),
                    region_loss=dict(type='RegionLoss', loss_weight=2.),
                    patch_loss=dict(type='PatchCorrespondenceLoss', loss_weight=0.7,
                                    warmup_epochs=3),
                    rotation_loss=dict(type='CrossEntropyLoss', loss_weight=0.3))
    # written once, in the loss modules, and honoured there
    assert head.region_loss.loss_weight == 2. and head.patch_loss.loss_weight == 0.7
    assert head.rotation_loss.loss_weight == 0.3
    matched = torch.tensor(0.25)
    try:
        hub.update_info('epoch', 2)
        assert head.patch_loss.current_weight() == 0. and head.patch_loss(matched) == 0.
        hub.update_info('epoch', 3)
        assert head.patch_loss.current_weight() == 0.7
        torch.testing.assert_close(head.patch_loss(matched), torch.tensor(-0.7 * 0.25))
    finally:
        hub.update_info('epoch', 0)
    paper = GTSAHead(predictor=dict(type='GTSAPredictor', in_channels=8, hidden_channels=8,
                                    out_channels=8), patch_size=8)
    assert (paper.region_loss.loss_weight, paper.patch_loss.loss_weight,
            paper.rotation_loss.loss_weight, paper.patch_loss.warmup_epochs) == (1., .5, .5, 11)


def test_per_loss_weights_in_the_config_scale_the_logged_terms(tiny_gtsa, tiny_batch):
    """Each term is its loss module's weight times the same unweighted value."""
    base = tiny_gtsa().train()
    weighted = tiny_gtsa(head=dict(
        region_loss=dict(type='RegionLoss', loss_weight=2.),
        patch_loss=dict(type='PatchCorrespondenceLoss', loss_weight=0.7),
        rotation_loss=dict(type='CrossEntropyLoss', loss_weight=0.3))).train()
    weighted.load_state_dict(base.state_dict())
    data = tiny_batch(base)
    ref = base.loss(data['inputs'], data['data_samples'])
    out = weighted.loss(data['inputs'], data['data_samples'])
    torch.testing.assert_close(out['loss_region'], 2. * ref['loss_region'])
    torch.testing.assert_close(out['loss_patch'], 0.7 / 0.5 * ref['loss_patch'])
    torch.testing.assert_close(out['loss_rotation'], 0.3 / 0.5 * ref['loss_rotation'])
    torch.testing.assert_close(out['patch_similarity'], ref['patch_similarity'])
    torch.testing.assert_close(out['loss_patch'], -0.7 * out['patch_similarity'])
    assert list(out) == ['loss_region', 'loss_patch', 'patch_similarity', 'loss_rotation']


def test_the_number_of_global_views_is_read_from_the_batch(tiny_gtsa, tiny_batch):
    MessageHub.get_current_instance().update_info('max_iters', 10)  # the EMA's schedule
    model = tiny_gtsa().train()
    for num_global in (1, 2, 3):
        data = tiny_batch(model, num_global=num_global)
        losses = model.loss(data['inputs'], data['data_samples'])
        assert set(losses) >= {'loss_region', 'loss_patch', 'loss_rotation'}
        assert all(torch.isfinite(v) for v in losses.values())


def test_views_must_match_their_geometry(tiny_gtsa, tiny_batch):
    model = tiny_gtsa().train()
    data = tiny_batch(model)
    with pytest.raises(ValueError, match='9 view tensors but its geometry describes 10'):
        model.loss(data['inputs'][:-1], data['data_samples'])
    views = data['inputs']
    swapped = [views[0], views[2], views[1]] + views[3:]  # a local view among the globals
    with pytest.raises(ValueError, match='global_size'):
        model.loss(swapped, data['data_samples'])


def test_patch_size_is_read_from_the_backbone(tiny_gtsa):
    assert tiny_gtsa().head.patch_size == 8
    assert tiny_gtsa(head=dict(patch_size=8)).head.patch_size == 8  # may be checked
    with pytest.raises(ValueError, match=r'model\.head\.patch_size=16.*model\.backbone\.'
                                         r'patch_size=8'):
        tiny_gtsa(head=dict(patch_size=16))


@pytest.mark.parametrize('option,where', [
    ('predictor', 'model.head.predictor'),
    ('patch_loss_warmup_epochs', 'model.head.patch_loss.warmup_epochs'),
    ('num_global', "GTSAMultiCrop num_global"),
    ('patch_size', 'model.backbone.patch_size'),
])
def test_options_that_moved_into_the_head_are_named(tiny_gtsa, option, where):
    with pytest.raises(TypeError, match=rf'model\.{option} -> .*{where}'):
        tiny_gtsa(**{option: 2})


def test_checkpoints_of_the_layout_before_the_head_load_strictly(tiny_gtsa, tiny_batch,
                                                                 monkeypatch):
    """A state dict of the earlier layout (``predictor.*`` and ``rotation_head.*`` beside
    the head) loads strictly, through MMEngine's loader too, and gives the same losses."""
    from mmengine.runner.checkpoint import load_state_dict

    from gtsa_mm.models.algorithms import gtsa as gtsa_module
    from gtsa_mm.models.algorithms.gtsa import MOVED_STATE_PREFIXES
    logged = []
    monkeypatch.setattr(gtsa_module, 'print_log', lambda message, **kwargs: logged.append(message))
    MessageHub.get_current_instance().update_info('max_iters', 10)  # the EMA's schedule
    source = tiny_gtsa().train()
    state = {k: v.clone() for k, v in source.state_dict().items()}
    old = {}
    for key, value in state.items():
        for old_prefix, new_prefix in MOVED_STATE_PREFIXES.items():
            if key.startswith(new_prefix):
                key = old_prefix + key[len(new_prefix):]
        old[key] = value.clone()
    assert any(k.startswith('predictor.') for k in old)
    assert any(k.startswith('rotation_head.') for k in old)
    assert not any(k.startswith('head.') for k in old)
    data = tiny_batch(source)
    expected = source.loss(data['inputs'], data['data_samples'])
    for load in (lambda m, sd: m.load_state_dict(sd, strict=True),
                 lambda m, sd: load_state_dict(m, sd, strict=True)):
        target = tiny_gtsa().train()
        with torch.no_grad():
            for p in target.parameters():
                p.add_(1.)
        load(target, dict(old))
        for key, value in state.items():
            torch.testing.assert_close(target.state_dict()[key], value, msg=key)
        out = target.loss(data['inputs'], data['data_samples'])
        assert list(out) == list(expected)
        for key in expected:
            torch.testing.assert_close(out[key], expected[key])
    renamed = sum(k.startswith(tuple(MOVED_STATE_PREFIXES)) for k in old)
    assert logged == [logged[0]] * 2 and f'renamed {renamed} state-dict keys' in logged[0]
    tiny_gtsa().load_state_dict(state, strict=True)  # the current layout: nothing to say
    assert len(logged) == 2
