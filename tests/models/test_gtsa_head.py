"""GTSAHead's pair index and weighting rule; GTSA's checks of num_global and patch_size."""
import pytest
import torch
from mmengine.logging import MessageHub

from gtsa_mm.models.heads.gtsa_head import DEFAULT_LOSS_WEIGHTS, GTSAHead, global_pair_index


@pytest.mark.parametrize('num_global', [1, 2, 3, 4])
def test_global_pair_index_lists_every_ordered_pair_once(num_global):
    first, second, reverse = global_pair_index(num_global)
    pairs = list(zip(first.tolist(), second.tolist()))
    expected = [(a, b) for a in range(num_global) for b in range(num_global) if a != b]
    assert pairs == expected  # teacher-major, partners in order
    for p, (a, b) in enumerate(pairs):
        assert pairs[reverse[p]] == (b, a)


def test_loss_weights_are_one_rule_with_the_patch_warmup():
    hub = MessageHub.get_current_instance()
    head = GTSAHead(region_loss=dict(type='RegionLoss', loss_weight=2.),
                    patch_loss=dict(type='PatchCorrespondenceLoss', loss_weight=0.7),
                    loss_weights=dict(loss_rotation=0.3), patch_loss_warmup_epochs=3)
    # the per-loss loss_weight moved to the head; the modules compute unweighted terms
    assert head.region_loss.loss_weight == 1. and head.patch_loss.loss_weight == 1.
    try:
        hub.update_info('epoch', 2)
        assert head.loss_weights() == dict(loss_region=2., loss_patch=0., loss_rotation=0.3)
        hub.update_info('epoch', 3)
        assert head.loss_weights() == dict(loss_region=2., loss_patch=0.7, loss_rotation=0.3)
    finally:
        hub.update_info('epoch', 0)
    assert GTSAHead(patch_loss_warmup_epochs=0).loss_weights() == DEFAULT_LOSS_WEIGHTS
    assert DEFAULT_LOSS_WEIGHTS == dict(loss_region=1., loss_patch=.5, loss_rotation=.5)


def test_per_loss_weights_in_the_config_scale_the_logged_terms(tiny_gtsa, tiny_batch):
    """Configs that set loss_weight on RegionLoss / PatchCorrespondenceLoss / RotationHead
    keep their meaning: each term is its weight times the same unweighted value."""
    from gtsa_test_utils import tiny_gtsa_model_cfg
    rotation_head = dict(tiny_gtsa_model_cfg()['rotation_head'], loss_weight=0.3)
    base = tiny_gtsa().train()
    weighted = tiny_gtsa(region_loss=dict(type='RegionLoss', loss_weight=2.),
                         patch_loss=dict(type='PatchCorrespondenceLoss', loss_weight=0.7),
                         rotation_head=rotation_head).train()
    weighted.load_state_dict(base.state_dict())
    data = tiny_batch(base)
    ref = base.loss(data['inputs'], data['data_samples'])
    out = weighted.loss(data['inputs'], data['data_samples'])
    torch.testing.assert_close(out['loss_region'], 2. * ref['loss_region'])
    torch.testing.assert_close(out['loss_patch'], 0.7 / 0.5 * ref['loss_patch'])
    torch.testing.assert_close(out['loss_rotation'], 0.3 / 0.5 * ref['loss_rotation'])
    torch.testing.assert_close(out['patch_similarity'], ref['patch_similarity'])
    assert list(out) == ['loss_region', 'loss_patch', 'patch_similarity', 'loss_rotation']


def test_model_num_global_must_match_the_transforms(tiny_gtsa, tiny_batch):
    model = tiny_gtsa().train()
    data = tiny_batch(model, num_global=3)
    with pytest.raises(ValueError, match=r"model\.num_global=2.*3 global views.*GTSAMultiCrop"):
        model.loss(data['inputs'], data['data_samples'])
    three = tiny_gtsa(num_global=3).train()
    assert set(three.loss(data['inputs'], data['data_samples'])) >= {'loss_region'}


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
    assert tiny_gtsa(patch_size=None).patch_size == 8
    assert tiny_gtsa(patch_size=8).head.patch_size == 8
    with pytest.raises(ValueError, match=r'model\.patch_size=16.*model\.backbone\.patch_size=8'):
        tiny_gtsa(patch_size=16)
