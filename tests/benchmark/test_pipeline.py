"""gtsa_mm_lab.benchmark.pipeline: the config's dataset and pipeline timed on COCO-size JPEGs."""
import cv2
import numpy as np
import pytest
from gtsa_test_utils import tiny_multicrop_cfg

from gtsa_mm_lab.benchmark import synthetic_photo, time_pipeline, write_synthetic_jpegs
from gtsa_mm_lab.benchmark.pipeline import workers_needed


def test_synthetic_jpegs_have_coco_size_and_detail(tmp_path):
    paths = write_synthetic_jpegs(tmp_path, 2)
    img = cv2.imread(paths[0])
    assert img.shape == (480, 640, 3)
    # a photo's compressed size, not a flat test image's (COCO: ~160 kB on average)
    assert 100_000 < (tmp_path / 'synthetic_0000.jpg').stat().st_size < 250_000
    assert not np.array_equal(synthetic_photo(8, 8, 0), synthetic_photo(8, 8, 1))


def test_time_pipeline_times_every_stage_of_the_dataset(tmp_path):
    write_synthetic_jpegs(tmp_path, 3, shape=(60, 80), quality=90)
    dataset = dict(type='UnlabeledImageFolder', data_root='unused', pipeline=[
        dict(type='LoadImageFromFile'), tiny_multicrop_cfg(),
        dict(type='PackInputs', algorithm_keys=['crop_boxes', 'rotation_label'])])
    timing = time_pipeline(dataset, tmp_path, batch_size=2, repeats=2, warmup=1)
    assert timing.images == 3
    assert set(timing.stage_ms) == {'LoadImageFromFile', 'GTSAMultiCrop', 'PackInputs',
                                    'collate'}
    assert all(v >= 0 for v in timing.stage_ms.values())
    assert timing.ms_per_img == pytest.approx(sum(timing.stage_ms.values()), rel=0.5)
    assert timing.ms_per_img > 0 and timing.wall_ms_per_img > 0


def test_workers_needed_rounds_up():
    assert workers_needed(1000., 7.3) == 8  # 7.3 workers' worth
    assert workers_needed(1000., 8.0) == 8
    assert workers_needed(1088., 8.0) == 9
