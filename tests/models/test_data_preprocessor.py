"""MultiViewDataPreprocessor: MMPretrain's outputs bit for bit, without its list-index sync."""
import pytest
import torch
from mmpretrain.models.utils import SelfSupDataPreprocessor

from gtsa_mm.host_sync import HostSyncRecorder
from gtsa_mm.models.utils import MultiViewDataPreprocessor

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])


def _views(seed=0, sizes=(16, 16, 8, 8, 8)):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (2, 3, s, s), generator=gen, dtype=torch.uint8)
            for s in sizes]


@pytest.mark.parametrize('settings', [dict(NORM, to_rgb=True), dict(NORM, to_rgb=False),
                                      dict(to_rgb=True), dict()])
def test_views_equal_mmpretrain_bit_for_bit(settings):
    ours, theirs = MultiViewDataPreprocessor(**settings), SelfSupDataPreprocessor(**settings)
    views = _views()
    out = ours({'inputs': views, 'data_samples': None}, training=True)['inputs']
    ref = theirs({'inputs': views, 'data_samples': None}, training=True)['inputs']
    assert len(out) == len(ref)
    for a, b in zip(out, ref):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_single_batch_tensor_is_handled_like_mmpretrain():
    ours = MultiViewDataPreprocessor(**NORM, to_rgb=True)
    theirs = SelfSupDataPreprocessor(**NORM, to_rgb=True)
    view = _views(sizes=(16, ))[0]
    torch.testing.assert_close(ours({'inputs': view})['inputs'],
                               theirs({'inputs': view, 'data_samples': None})['inputs'],
                               rtol=0, atol=0)


def test_data_samples_are_passed_through_untouched():
    samples = [object(), object()]
    out = MultiViewDataPreprocessor(**NORM)({'inputs': _views(), 'data_samples': samples})
    assert out['data_samples'] is samples


def test_no_host_sync_where_mmpretrain_has_one_per_view():
    views = _views()
    mmpretrain_pre = SelfSupDataPreprocessor(**NORM, to_rgb=True)
    ours_pre = MultiViewDataPreprocessor(**NORM, to_rgb=True)
    with HostSyncRecorder() as theirs:
        mmpretrain_pre({'inputs': views, 'data_samples': None})
    assert len(theirs.events) == len(views)  # view[:, [2, 1, 0]]: a host index tensor each
    with HostSyncRecorder() as ours:
        ours_pre({'inputs': views, 'data_samples': None})
    assert not ours.events, ours.report()


def test_to_rgb_on_non_bgr_views_names_the_option():
    grey = [torch.zeros(2, 1, 8, 8, dtype=torch.uint8)]
    with pytest.raises(ValueError, match='to_rgb=False'):
        MultiViewDataPreprocessor(to_rgb=True)({'inputs': grey})
