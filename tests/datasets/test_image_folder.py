"""UnlabeledImageFolder on the files real photo folders contain."""
import os
import os.path as osp
import uuid

import cv2
import numpy as np
import pytest
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from PIL import Image
from torch.utils.data import DataLoader

from gtsa_mm.datasets import UnlabeledImageFolder, UnreadableImageError

LOAD_ONLY = [dict(type='LoadImageFromFile')]
# Scoped names: the tests must not depend on which default scope an earlier
# test (a Runner) left behind.
TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=32),
    dict(type='mmpretrain.PackInputs'),
]
RED_RGB = (255, 0, 0)
RED_BGR = [0, 0, 255]


def _halves(width: int = 64, height: int = 48) -> np.ndarray:
    """RGB image: red top half, blue bottom half."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:height // 2] = RED_RGB
    rgb[height // 2:] = (0, 0, 255)
    return rgb


def _good_jpeg_bytes() -> bytes:
    path = f'/tmp/gtsa_{uuid.uuid4().hex}.jpg'
    Image.fromarray(_halves()).save(path, quality=95)
    with open(path, 'rb') as f:
        data = f.read()
    os.remove(path)
    return data


def make_photo_folder(root) -> dict:
    """Every kind of file the brief lists, in sub-folders; returns name -> kind."""
    root = str(root)
    os.makedirs(osp.join(root, 'good', 'deeper'))
    os.makedirs(osp.join(root, 'bad'))
    os.makedirs(osp.join(root, '.thumbnails'))
    rgb = _halves()
    Image.fromarray(rgb).save(osp.join(root, 'good', 'rgb.jpg'), quality=95)
    Image.fromarray(rgb).save(osp.join(root, 'good', 'UPPER.JPG'), quality=95)
    Image.fromarray(rgb[..., 0]).save(osp.join(root, 'good', 'gray.png'))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba).save(osp.join(root, 'good', 'rgba.png'))
    Image.fromarray(rgb).convert('P').save(osp.join(root, 'good', 'palette.png'))
    # 16 bit: 0x4000 should become 64 (scaled), not 255 (clipped).
    cv2.imwrite(osp.join(root, 'good', 'deeper', 'sixteen.png'),
                np.full((40, 50), 0x4000, np.uint16))
    Image.fromarray(rgb).convert('CMYK').save(osp.join(root, 'good', 'cmyk.jpg'), quality=95)
    # Stored 64 wide x 48 high, red top; EXIF 6 = show it rotated 90 degrees clockwise.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(osp.join(root, 'good', 'exif_rot90.jpg'), exif=exif.tobytes())
    Image.fromarray(_halves(12, 10)).save(osp.join(root, 'good', 'tiny.png'))
    Image.fromarray(_halves(4000, 40)).save(osp.join(root, 'good', 'wide.jpg'))

    jpeg = _good_jpeg_bytes()
    with open(osp.join(root, 'bad', 'truncated.jpg'), 'wb') as f:
        f.write(jpeg[:len(jpeg) // 2])
    open(osp.join(root, 'bad', 'zero.jpg'), 'wb').close()
    with open(osp.join(root, 'bad', 'html.jpg'), 'w') as f:
        f.write('<html><body>404 Not Found</body></html>\n')
    with open(osp.join(root, 'bad', 'noise.png'), 'wb') as f:
        f.write(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    # Never listed: a text file, a macOS resource fork, a hidden folder.
    with open(osp.join(root, 'good', 'notes.txt'), 'w') as f:
        f.write('not an image\n')
    with open(osp.join(root, 'good', '._rgb.jpg'), 'wb') as f:
        f.write(b'\x00\x05\x16\x07' + b'\x00' * 60)
    Image.fromarray(rgb).save(osp.join(root, '.thumbnails', 'rgb.jpg'))
    return {
        'good/rgb.jpg': 'good', 'good/UPPER.JPG': 'good', 'good/gray.png': 'good',
        'good/rgba.png': 'good', 'good/palette.png': 'good', 'good/deeper/sixteen.png': 'good',
        'good/cmyk.jpg': 'good', 'good/exif_rot90.jpg': 'good', 'good/tiny.png': 'good',
        'good/wide.jpg': 'good', 'bad/truncated.jpg': 'bad', 'bad/zero.jpg': 'bad',
        'bad/html.jpg': 'bad', 'bad/noise.png': 'bad',
    }


@pytest.fixture(scope='module')
def photo_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('photos')
    return str(root), make_photo_folder(root)


def _rel(dataset, idx):
    return osp.relpath(dataset.get_data_info(idx)['img_path'], dataset.img_prefix)


def _log_to(tmp_path) -> str:
    """Make a fresh MMLogger the 'current' one, writing to a file; return it."""
    log_file = str(tmp_path / f'{uuid.uuid4().hex}.log')
    MMLogger.get_instance(f'test_image_folder_{uuid.uuid4().hex}', log_file=log_file)
    return log_file


def test_lists_images_recursively_sorted_case_insensitive(photo_folder):
    root, kinds = photo_folder
    dataset = UnlabeledImageFolder(data_root=root, pipeline=LOAD_ONLY)
    listed = [_rel(dataset, i) for i in range(len(dataset))]
    assert sorted(listed, key=lambda p: p.split('/')) == listed
    assert set(listed) == set(kinds)  # no .txt, no ._* file, no hidden folder

    only_png = UnlabeledImageFolder(data_root=root, extensions=['PNG'], pipeline=LOAD_ONLY)
    assert {_rel(only_png, i) for i in range(len(only_png))} == {
        k for k in kinds if k.endswith('.png')}

    good_only = UnlabeledImageFolder(data_root=root, data_prefix='good', pipeline=LOAD_ONLY)
    assert len(good_only) == sum(kind == 'good' for kind in kinds.values())


def test_readable_images_are_bgr_uint8_and_oriented(photo_folder):
    root, _ = photo_folder
    dataset = UnlabeledImageFolder(data_root=root, data_prefix='good', pipeline=LOAD_ONLY)
    images = {}
    for idx in range(len(dataset)):
        out = dataset[idx]
        assert osp.relpath(out['img_path'], dataset.img_prefix) == _rel(dataset, idx)
        images[_rel(dataset, idx)] = out['img']
    for name, img in images.items():
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name

    for name in ['rgb.jpg', 'UPPER.JPG', 'cmyk.jpg', 'palette.png', 'rgba.png']:
        top, bottom = images[name][2, 2].astype(int), images[name][-3, 2].astype(int)
        assert np.abs(top - RED_BGR).max() <= 8, (name, top)  # BGR: red is last
        assert np.abs(bottom - [255, 0, 0]).max() <= 8, (name, bottom)
    gray = images['gray.png']
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert images['deeper/sixteen.png'].shape == (40, 50, 3)
    assert (images['deeper/sixteen.png'] == 64).all()  # 0x4000 >> 8: scaled, not clipped

    # EXIF orientation 6 applied: 64x48 becomes 48 wide x 64 high, red (the
    # stored top) is now on the right.
    rotated = images['exif_rot90.jpg']
    assert rotated.shape == (64, 48, 3)
    assert np.abs(rotated[32, -3].astype(int) - RED_BGR).max() <= 8
    assert np.abs(rotated[32, 2].astype(int) - [255, 0, 0]).max() <= 8

    assert images['tiny.png'].shape == (10, 12, 3)
    assert images['wide.jpg'].shape == (40, 4000, 3)


def test_train_pipeline_handles_tiny_and_extreme_aspect(photo_folder):
    root, _ = photo_folder
    dataset = UnlabeledImageFolder(data_root=root, data_prefix='good', pipeline=TRAIN_PIPELINE)
    for idx in range(len(dataset)):
        assert tuple(dataset[idx]['inputs'].shape) == (3, 32, 32)


def test_bad_images_are_replaced_and_reported_once(photo_folder, tmp_path):
    root, kinds = photo_folder
    log_file = _log_to(tmp_path)
    dataset = UnlabeledImageFolder(data_root=root, pipeline=LOAD_ONLY)
    names = [_rel(dataset, i) for i in range(len(dataset))]
    for _ in range(2):  # two epochs
        for idx, name in enumerate(names):
            out = dataset[idx]
            used = osp.relpath(out['img_path'], dataset.img_prefix)
            if kinds[name] == 'good':
                assert used == name
            else:  # the next readable image in list order, deterministically
                following = names[idx + 1:] + names[:idx]
                assert used == next(n for n in following if kinds[n] == 'good')
            assert out['img'].ndim == 3

    bad = sorted(name for name, kind in kinds.items() if kind == 'bad')
    assert dataset.num_bad_images == len(bad)
    assert sorted(osp.relpath(p, root) for p in dataset.bad_image_paths) == bad
    with open(log_file) as f:
        log = f.read()
    for name in bad:
        assert log.count(osp.join(root, name)) == 1, (name, log)
    assert f'{len(bad)} unreadable of {len(dataset)} images so far' in log
    assert 'empty file (0 bytes)' in log


@pytest.mark.parametrize('name', ['truncated.jpg', 'zero.jpg', 'html.jpg', 'noise.png'])
def test_strict_mode_names_the_file(photo_folder, name):
    root, _ = photo_folder
    dataset = UnlabeledImageFolder(
        data_root=root, data_prefix='bad', skip_bad_images=False, pipeline=TRAIN_PIPELINE)
    idx = next(i for i in range(len(dataset)) if _rel(dataset, i) == name)
    with pytest.raises(UnreadableImageError, match=name) as info:
        dataset[idx]
    assert 'skip_bad_images=True' in str(info.value)


def test_test_mode_raises_instead_of_replacing(photo_folder):
    root, _ = photo_folder
    dataset = UnlabeledImageFolder(
        data_root=root, data_prefix='bad', test_mode=True, pipeline=LOAD_ONLY)
    with pytest.raises(UnreadableImageError):
        dataset[0]


def test_all_unreadable_stops_with_a_clear_error(photo_folder):
    root, _ = photo_folder
    dataset = UnlabeledImageFolder(data_root=root, data_prefix='bad', pipeline=LOAD_ONLY)
    with pytest.raises(RuntimeError, match='all unreadable'):
        dataset[0]


def test_missing_and_empty_folders_fail_at_construction(tmp_path):
    missing = tmp_path / 'nowhere'
    with pytest.raises(FileNotFoundError, match=f"'{missing}' does not exist.*data_root"):
        UnlabeledImageFolder(data_root=str(missing), pipeline=LOAD_ONLY)
    empty = tmp_path / 'empty'
    (empty / 'sub').mkdir(parents=True)
    (empty / 'sub' / 'notes.txt').write_text('no images here')
    with pytest.raises(FileNotFoundError, match=f"no image files .* found under '{empty}'"):
        UnlabeledImageFolder(data_root=str(empty), pipeline=LOAD_ONLY)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        UnlabeledImageFolder(data_root='', pipeline=LOAD_ONLY)


def test_ann_file(photo_folder, tmp_path):
    root, _ = photo_folder
    ann = tmp_path / 'list.txt'
    ann.write_text('# chosen images\ngood/rgb.jpg 0\n\ngood/gray.png\nbad/zero.jpg 3\n')
    dataset = UnlabeledImageFolder(data_root=root, ann_file=str(ann), pipeline=LOAD_ONLY)
    assert [_rel(dataset, i) for i in range(len(dataset))] == [
        'good/rgb.jpg', 'good/gray.png', 'bad/zero.jpg']
    assert osp.relpath(dataset[2]['img_path'], root) == 'good/rgb.jpg'  # wraps around

    with pytest.raises(FileNotFoundError, match='relative to data_root'):
        UnlabeledImageFolder(data_root=root, data_prefix='good', ann_file=str(ann))
    with pytest.raises(FileNotFoundError, match='ann_file .* does not exist'):
        UnlabeledImageFolder(data_root=root, ann_file=str(tmp_path / 'nope.txt'))


@pytest.mark.parametrize('num_workers', [0, 2])
def test_epochs_through_a_dataloader(photo_folder, tmp_path, num_workers):
    root, kinds = photo_folder
    log_file = _log_to(tmp_path)
    dataset = UnlabeledImageFolder(data_root=root, pipeline=TRAIN_PIPELINE)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=num_workers,
                        collate_fn=pseudo_collate)
    for _ in range(2):  # fresh worker processes each epoch
        sizes = [len(batch['inputs']) for batch in loader]
        assert sum(sizes) == len(dataset)  # bad images replaced, batches keep their size
        assert all(size == 4 for size in sizes[:-1])
    bad = [name for name, kind in kinds.items() if kind == 'bad']
    assert dataset.num_bad_images == len(bad)  # seen by the main process too
    with open(log_file) as f:
        log = f.read()
    for name in bad:
        assert log.count(osp.join(root, name)) == 1, (name, log)
