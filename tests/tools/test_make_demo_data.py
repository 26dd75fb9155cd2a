"""Tests of the demo data generator (gtsa_mm_lab.demo_data, tools/make_demo_data.py) on tiny
data sets (a few images, small sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gtsa_test_utils import QUICK_TOOL_TIMEOUT_S, run_tool

import gtsa_mm_lab.demo_data as mdd
from gtsa_mm_lab.demo_data.cli import main, parse_image_size

cv2 = pytest.importorskip('cv2')

WIDTH, HEIGHT = 128, 96  # not square, to catch width/height mix-ups
TINY = ['--seed', '3', '--num-pretrain', '3', '--num-train', '4', '--num-val', '2',
        '--image-size', f'{WIDTH}x{HEIGHT}', '--min-objects', '5', '--max-objects', '9',
        '--quiet']
NUM_CLASSES = len(mdd.CLASS_NAMES)


def _generate(out: Path, *extra: str) -> Path:
    assert main(['--out', str(out), *TINY, *extra]) == 0
    return out


def _all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file()}


def _read_gray(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp('demo') / 'data')


def _coco(demo: Path, split: str) -> dict:
    return json.loads((demo / 'coco' / 'annotations' / f'instances_{split}.json').read_text())


# --------------------------------------------------------------------------- CLI and layout
def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['--help'])
    assert exc.value.code == 0
    assert '--num-pretrain' in capsys.readouterr().out


def test_help_as_a_script():
    result = run_tool('make_demo_data.py', '--help', timeout=QUICK_TOOL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert '--image-size' in result.stdout


@pytest.mark.parametrize('text, expected', [('256', (256, 256)), ('320x240', (320, 240)),
                                            ('64X48', (64, 48))])
def test_parse_image_size(text, expected):
    assert parse_image_size(text) == expected


@pytest.mark.parametrize('text', ['0', '16', 'axb', '1x2x3', ''])
def test_parse_image_size_rejects(text):
    with pytest.raises(Exception):  # noqa: B017 - argparse.ArgumentTypeError
        parse_image_size(text)


def test_layout_and_meta(demo):
    meta = json.loads((demo / 'meta.json').read_text())
    assert meta['classes'] == list(mdd.CLASS_NAMES)
    assert len(meta['palette']) == NUM_CLASSES
    assert meta['seed'] == 3 and meta['version'] == mdd.GENERATOR_VERSION
    assert meta['image_size'] == {'width': WIDTH, 'height': HEIGHT}
    assert meta['num_images'] == {'pretrain': 3, 'train': 4, 'val': 2}
    assert len(list((demo / 'pretrain').rglob('*.jpg'))) == 3
    for split, ade in (('train', 'training'), ('val', 'validation')):
        count = meta['num_images'][split]
        coco_images = sorted(p.name for p in (demo / 'coco' / split).glob('*.jpg'))
        ade_images = sorted(p.name for p in (demo / 'ade' / 'images' / ade).glob('*.jpg'))
        ade_labels = sorted(p.stem for p in (demo / 'ade' / 'annotations' / ade).glob('*.png'))
        assert len(coco_images) == count and coco_images == ade_images
        assert [Path(n).stem for n in ade_images] == ade_labels
        assert meta['num_instances'][split] == len(_coco(demo, split)['annotations'])
    image = cv2.imread(str(next((demo / 'pretrain').glob('*.jpg'))))
    assert image.shape == (HEIGHT, WIDTH, 3)


# --------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_bytes(demo, tmp_path):
    again = _generate(tmp_path / 'again')
    assert _all_files(again) == _all_files(demo)


def test_different_seed_differs(demo, tmp_path):
    other = _generate(tmp_path / 'other', '--seed', '4')
    ours, theirs = _all_files(demo), _all_files(other)
    assert ours.keys() == theirs.keys()
    for name in ours:
        if name.endswith(('.jpg', '.png')):
            assert ours[name] != theirs[name], name


def test_images_do_not_depend_on_counts(demo, tmp_path):
    # Per-image seeding: asking for fewer images keeps the ones that remain identical.
    fewer = tmp_path / 'fewer'
    assert main(['--out', str(fewer), *TINY, '--num-train', '2']) == 0
    for name in ('train_000000.jpg', 'train_000001.jpg'):
        assert (fewer / 'coco' / 'train' / name).read_bytes() == \
            (demo / 'coco' / 'train' / name).read_bytes()


# --------------------------------------------------------------------------- COCO
def test_coco_masks_agree_with_area_and_bbox(demo):
    coco_api = pytest.importorskip('pycocotools.coco')
    mask_utils = pytest.importorskip('pycocotools.mask')
    min_area = mdd.default_min_area(WIDTH, HEIGHT)
    for split in ('train', 'val'):
        coco = coco_api.COCO(str(demo / 'coco' / 'annotations' / f'instances_{split}.json'))
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(mdd.CLASS_NAMES)
        assert coco.getCatIds() == list(range(1, NUM_CLASSES + 1))
        for image_id in coco.getImgIds():
            info = coco.loadImgs(image_id)[0]
            image = cv2.imread(str(demo / 'coco' / split / info['file_name']))
            assert image.shape[:2] == (info['height'], info['width'])
            covered = np.zeros((info['height'], info['width']), np.int32)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=image_id)):
                mask = coco.annToMask(ann)
                assert ann['iscrowd'] == 0
                assert ann['area'] == int(mask.sum()) >= min_area
                assert ann['area'] == int(mask_utils.area(ann['segmentation']))
                np.testing.assert_array_equal(ann['bbox'], mask_utils.toBbox(ann['segmentation']))
                covered += mask
            assert covered.max() <= 1, 'visible masks of one image must not overlap'


def test_rle_encoder_matches_pycocotools():
    mask_utils = pytest.importorskip('pycocotools.mask')
    rng = np.random.default_rng(0)
    masks = [np.zeros((7, 5), bool), np.ones((7, 5), bool), rng.random((31, 17)) < 0.5,
             np.pad(np.ones((40, 30), bool), ((300, 5), (2, 900)))]
    for mask in masks:
        rle = mdd.encode_rle(mask)
        expected = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert rle['counts'] == expected['counts'].decode('ascii')
        np.testing.assert_array_equal(mask_utils.decode(rle), mask)


def test_every_labelled_image_shows_several_classes(demo):
    for split in ('train', 'val'):
        coco = _coco(demo, split)
        for image in coco['images']:
            anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
            assert len({a['category_id'] for a in anns}) >= 3, image['file_name']


# --------------------------------------------------------------------------- ADE
def test_ade_label_maps(demo):
    for ade in ('training', 'validation'):
        for path in sorted((demo / 'ade' / 'annotations' / ade).glob('*.png')):
            label = _read_gray(path)
            assert label.dtype == np.uint8 and label.shape == (HEIGHT, WIDTH)
            assert label.max() <= NUM_CLASSES
            assert (label == 0).any() and len(np.unique(label)) >= 4  # background + 3 classes
            assert (demo / 'ade' / 'images' / ade / f'{path.stem}.jpg').is_file()


def test_label_maps_are_the_union_of_coco_masks(demo):
    mask_utils = pytest.importorskip('pycocotools.mask')
    for split, ade in (('train', 'training'), ('val', 'validation')):
        coco = _coco(demo, split)
        for image in coco['images']:
            stem = Path(image['file_name']).stem
            assert (demo / 'coco' / split / image['file_name']).read_bytes() == \
                (demo / 'ade' / 'images' / ade / image['file_name']).read_bytes()
            expected = np.zeros((image['height'], image['width']), np.uint8)
            for ann in coco['annotations']:
                if ann['image_id'] == image['id']:
                    expected[mask_utils.decode(ann['segmentation']) > 0] = ann['category_id']
            np.testing.assert_array_equal(
                _read_gray(demo / 'ade' / 'annotations' / ade / f'{stem}.png'), expected)


# --------------------------------------------------------------------------- idempotence
def test_second_run_is_up_to_date_and_writes_nothing(demo, capsys):
    before = {p: p.stat().st_mtime_ns for p in demo.rglob('*')}
    assert main(['--out', str(demo), *[a for a in TINY if a != '--quiet']]) == 0
    assert 'up to date' in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in demo.rglob('*')} == before


def test_changed_flags_regenerate_and_remove_stale_files(tmp_path):
    out = _generate(tmp_path / 'data')
    _generate(out, '--num-val', '1', '--num-pretrain', '1')
    meta = json.loads((out / 'meta.json').read_text())
    assert meta['num_images'] == {'pretrain': 1, 'train': 4, 'val': 1}
    assert len(list((out / 'pretrain').rglob('*.jpg'))) == 1
    assert len(list((out / 'ade' / 'annotations' / 'validation').glob('*.png'))) == 1
    assert len(_coco(out, 'val')['images']) == 1


def test_interrupted_run_is_regenerated(tmp_path):
    out = _generate(tmp_path / 'data')
    meta = json.loads((out / 'meta.json').read_text())
    meta['complete'] = False
    (out / 'meta.json').write_text(json.dumps(meta))
    (out / 'pretrain' / 'pretrain_000000.jpg').unlink()
    _generate(out)
    assert (out / 'pretrain' / 'pretrain_000000.jpg').is_file()
    assert json.loads((out / 'meta.json').read_text())['complete'] is True


def test_refuses_a_folder_it_did_not_write(tmp_path):
    foreign = tmp_path / 'data'
    (foreign / 'coco').mkdir(parents=True)
    (foreign / 'coco' / 'mine.txt').write_text('keep me')
    with pytest.raises(SystemExit):
        main(['--out', str(foreign), *TINY])
    assert (foreign / 'coco' / 'mine.txt').read_text() == 'keep me'


@pytest.mark.parametrize('flag', ['--num-pretrain', '--num-train', '--num-val'])
def test_refuses_zero_images_naming_the_flag(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(['--out', str(tmp_path / 'data'), flag, '0', '--quiet'])
    assert exc.value.code == 2
    error = capsys.readouterr().err
    assert f'argument {flag}: expected at least 1 image' in error, error
    assert not (tmp_path / 'data').exists()


# --------------------------------------------------------------------------- scenes
def test_scene_sampling_is_pure_and_ordered():
    a = mdd.sample_scene(np.random.default_rng(1), 160, 120, 6, 10)
    b = mdd.sample_scene(np.random.default_rng(1), 160, 120, 6, 10)
    assert a == b
    labelled = [o.label for o in a.objects if o.label > 0]
    assert 6 <= len(labelled) <= 10
    assert len(set(labelled)) == min(len(labelled), NUM_CLASSES)  # first classes distinct
    assert any(o.label == 0 for o in a.objects)  # unlabelled clutter too
    bottoms = [o.center[1] + o.radius * o.aspect for o in a.objects]
    assert bottoms == sorted(bottoms)  # painter's order: far (high) objects first


def test_render_is_deterministic_and_labels_match_objects():
    scene = mdd.sample_scene(np.random.default_rng(2), 96, 96, 6, 10)
    first, second = mdd.render_scene(scene), mdd.render_scene(scene)
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.instance_map, second.instance_map)
    assert first.image.shape == (96, 96, 3) and first.image.dtype == np.uint8
    visible = np.bincount(first.instance_map.ravel(), minlength=len(scene.objects) + 1)[1:]
    assert np.all(visible <= first.full_areas)
    assert all(scene.objects[i].label > 0 for i in np.flatnonzero(visible))


def test_scenes_have_a_natural_up():
    # Sky on top, darker ground below: an upside-down scene is distinguishable.
    for index in range(4):
        image = mdd.make_pretrain_image(mdd.scene_rng(0, 'pretrain', index), 96, 96, 6, 10)
        image = image.astype(np.float32)
        blueness = image[..., 2] - image[..., 0]
        assert blueness[:16].mean() > blueness[-16:].mean() + 20
        assert image[:16].mean() > image[-16:].mean()


# --------------------------------------------------------------------------- OpenMMLab readers
def test_mmdet_coco_dataset_reads_the_masks(demo):
    pytest.importorskip('mmdet')
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations

    classes = tuple(json.loads((demo / 'meta.json').read_text())['classes'])
    dataset = CocoDataset(
        data_root=str(demo / 'coco'), ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'), metainfo=dict(classes=classes),
        pipeline=[LoadImageFromFile(), LoadAnnotations(with_bbox=True, with_mask=True)])
    assert len(dataset) == 4 and dataset.metainfo['classes'] == classes
    coco = _coco(demo, 'train')
    for index in range(len(dataset)):
        sample = dataset[index]
        image_id = sample['img_id']
        anns = [a for a in coco['annotations'] if a['image_id'] == image_id]
        masks = sample['gt_masks'].masks
        assert sample['img'].shape == (HEIGHT, WIDTH, 3)
        assert masks.shape == (len(anns), HEIGHT, WIDTH)
        np.testing.assert_array_equal(masks.sum((1, 2)), [a['area'] for a in anns])
        np.testing.assert_array_equal(sample['gt_bboxes_labels'],
                                      [a['category_id'] - 1 for a in anns])
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)])
        np.testing.assert_allclose(np.asarray(sample['gt_bboxes'].tensor), boxes)


def test_mmseg_dataset_reads_the_label_maps(demo):
    pytest.importorskip('mmseg')
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets import BaseSegDataset
    from mmseg.datasets.transforms import LoadAnnotations

    classes = tuple(json.loads((demo / 'meta.json').read_text())['classes'])
    dataset = BaseSegDataset(
        data_root=str(demo / 'ade'), metainfo=dict(classes=classes),
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
        pipeline=[LoadImageFromFile(), LoadAnnotations()])
    assert len(dataset) == 2
    for index in range(len(dataset)):
        sample = dataset[index]
        raw = _read_gray(Path(sample['seg_map_path']))
        expected = np.where(raw == 0, 255, raw.astype(np.int64) - 1)
        np.testing.assert_array_equal(sample['gt_seg_map'], expected)
        assert sample['img'].shape == (HEIGHT, WIDTH, 3)
        assert Path(sample['img_path']).stem == Path(sample['seg_map_path']).stem


def test_object_scale_scales_the_labelled_objects_only():
    def scene(scale):
        return mdd.sample_scene(np.random.default_rng(5), 128, 96, 4, 8, object_scale=scale)

    base, large = scene(1.0), scene(1.7)
    # the same objects (drawn in another order: nearer-looking ones are drawn later)
    by_centre = {obj.center: obj for obj in large.objects}
    assert len(by_centre) == len(base.objects) == len(large.objects)
    pairs = [(obj, by_centre[obj.center]) for obj in base.objects]
    assert any(a.label > 0 for a, _ in pairs) and any(a.label == 0 for a, _ in pairs)
    for a, b in pairs:
        assert b.label == a.label
        assert b.radius == pytest.approx(1.7 * a.radius if a.label > 0 else a.radius)
    with pytest.raises(ValueError, match='object_scale'):
        scene(0.0)


def test_object_scale_flag_is_recorded_and_checked(tmp_path, capsys):
    out = _generate(tmp_path / 'big', '--object-scale', '1.5')
    assert json.loads((out / 'meta.json').read_text())['config']['object_scale'] == 1.5
    with pytest.raises(SystemExit):
        main(['--out', str(tmp_path / 'bad'), '--object-scale', '0', '--quiet'])
    assert '--object-scale' in capsys.readouterr().err
