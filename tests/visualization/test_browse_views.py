"""The view browser (gtsa_mm.visualization.views, tools/browse_views.py): the views and boxes
it draws are the training pipeline's own, the corner dots are where each view's top-left
pixel comes from, and the tool writes one readable picture per sample."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from gtsa_test_utils import run_tool
from pretrain_helpers import write_images

from gtsa_mm.datasets.transforms import GTSAMultiCrop
from gtsa_mm.visualization import ViewSample, plot_views, sample_views, view_origins

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py'


def painted(height: int = 120, width: int = 160) -> np.ndarray:
    """BGR image whose pixel (y, x) holds x in red and y in green."""
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 2] = np.arange(width)[None, :]
    image[..., 1] = np.arange(height)[:, None]
    return image


@pytest.mark.parametrize('seed', range(4))
def test_corner_dots_are_where_each_views_top_left_pixel_comes_from(seed):
    crop = GTSAMultiCrop(global_size=48, local_size=24, num_local=6, color_jitter_prob=0,
                         grayscale_prob=0, blur_prob=0, seed=seed)
    results = crop(dict(img=painted()))
    boxes, labels = results['crop_boxes'].numpy(), results['rotation_label'].numpy()
    origins = view_origins(boxes, labels)
    for view, box, origin in zip(results['img'], boxes, origins):
        scale = (box[2:] - box[:2]) / view.shape[0]  # image pixels per view pixel
        centre = origin + np.sign(box[:2] + box[2:] - 2 * origin) * scale / 2
        seen = view[0, 0, [2, 1]].astype(float)  # (x, y) painted at the view's top left
        np.testing.assert_allclose(seen, centre - 0.5, atol=1.0)


@pytest.fixture(scope='module')
def images(tmp_path_factory) -> Path:
    return write_images(tmp_path_factory.mktemp('views') / 'images', 3, size=(96, 128))


def _demo_dataset(images: Path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS

    cfg = Config.fromfile(str(DEMO))
    cfg.train_dataloader.dataset.data_root = str(images)
    init_default_scope('mmpretrain')
    return DATASETS.build(cfg.train_dataloader.dataset)


def _trained_sample(dataset, index: int, seed: int, epoch: int) -> dict:
    """Sample ``index`` as the training loop gets it in ``epoch``: the dataset indexed with
    what a real SeededSampler yields."""
    from gtsa_mm.datasets import SeededSampler

    sampler = SeededSampler(dataset, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    seeded = next(i for i in sampler if i.index == index)
    return dataset[seeded]


def test_the_views_and_boxes_are_the_training_samples(images):
    dataset = _demo_dataset(images)
    sample = sample_views(dataset, 1, seed=3, epoch=2)
    trained = _trained_sample(dataset, 1, seed=3, epoch=2)
    data_sample = trained['data_samples']
    np.testing.assert_array_equal(sample.crop_boxes, data_sample.crop_boxes.numpy())
    np.testing.assert_array_equal(sample.rotation_labels, data_sample.rotation_label.numpy())
    np.testing.assert_array_equal(sample.global_region_boxes,
                                  data_sample.global_region_boxes.numpy())
    np.testing.assert_array_equal(sample.view_region_boxes,
                                  data_sample.view_region_boxes.numpy())
    assert len(sample.views) == len(trained['inputs']) == 6 and sample.num_global == 2
    for view, packed in zip(sample.views, trained['inputs']):
        np.testing.assert_array_equal(view, packed.permute(1, 2, 0).numpy()[..., ::-1])
    assert [v.shape[0] for v in sample.views] == [64, 64, 32, 32, 32, 32]
    np.testing.assert_array_equal(sample.image, cv2.imread(str(images / 'img_001.jpg'))[..., ::-1])
    assert sample.view_names == ['g0', 'g1', 'l0', 'l1', 'l2', 'l3']
    # the epoch is part of the seed: the first epoch's crops are other ones
    first = sample_views(dataset, 1, seed=3)
    assert not np.array_equal(first.crop_boxes, sample.crop_boxes)
    np.testing.assert_array_equal(
        first.crop_boxes, _trained_sample(dataset, 1, seed=3, epoch=0)['data_samples'].crop_boxes)


def test_plot_views_of_the_paper_crops(tmp_path):
    crop = GTSAMultiCrop(seed=0)
    image = painted(300, 400)
    results = crop(dict(img=image.copy()))
    sample = ViewSample('painted.png', image[..., ::-1], [v[..., ::-1] for v in results['img']],
                        results['crop_boxes'].numpy(), results['rotation_label'].numpy(),
                        results['global_region_boxes'].numpy(),
                        results['view_region_boxes'].numpy(), crop.num_global)
    path = plot_views(sample, str(tmp_path / 'views.png'))
    picture = cv2.imread(path)
    assert picture is not None and picture.shape[1] > 2 * picture.shape[0] > 400


def test_tool_help_and_a_run_on_tiny_images(images, tmp_path):
    out = run_tool('browse_views.py', '--help')
    assert out.returncode == 0 and '--images' in out.stdout and '--out' in out.stdout
    assert '--epoch' in out.stdout
    out = run_tool('browse_views.py', str(DEMO), '--images', '2', '--out', str(tmp_path / 'v'),
                   '--cfg-options', f'train_dataloader.dataset.data_root={images}')
    assert out.returncode == 0, out.stderr[-3000:]
    written = out.stdout.split()
    assert [Path(p).name for p in written] == ['views_0000_img_000.png',
                                               'views_0001_img_001.png']
    for path in written:
        picture = cv2.imread(path)
        assert picture is not None and picture.shape[0] >= 300 and picture.std() > 10
    missing = run_tool('browse_views.py', str(DEMO), '--out', str(tmp_path / 'x'),
                       '--cfg-options', f'train_dataloader.dataset.data_root={tmp_path}/no')
    assert missing.returncode != 0 and 'does not exist' in missing.stderr
    assert 'Traceback' not in missing.stderr
