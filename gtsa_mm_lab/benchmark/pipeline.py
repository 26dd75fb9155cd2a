"""The data pipeline's cost per image on one CPU core, from JPEG file to batch.

A DataLoader worker pays, per image, what ``UnlabeledImageFolder`` does for one
index (decode with ``LoadImageFromFile``, ``GTSAMultiCrop``, ``PackInputs``) plus its
share of the collate of the batch. :func:`time_pipeline` runs exactly that path, the
dataset and pipeline of a config on COCO-size JPEGs, with OpenCV and torch held to
one thread as in a worker, and times every stage in CPU time of the process
(``time.thread_time``), which other jobs on a shared machine disturb far less than
wall-clock time (both are reported).
"""
from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

#: COCO train2017: 118,287 JPEGs, 18 GB (about 160 kB each), most 640 px on the long side.
COCO_IMAGE_SHAPE = (480, 640)


def synthetic_photo(height: int, width: int, seed: int) -> np.ndarray:
    """A uint8 BGR image with a photo's spread of detail over scales.

    Gaussian noise at 7 octaves (coarse octaves stronger, as the 1/f spectrum of
    natural images) plus fine grain. JPEG decode time grows with the compressed
    size, which flat test images understate: at quality 95 these are ~160 kB at
    640 x 480, the mean size of a COCO image.
    """
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 120., np.float32)
    for octave in range(1, 8):
        coarse = rng.normal(0, 1, (max(2, height >> octave), max(2, width >> octave), 3))
        img += cv2.resize(coarse.astype(np.float32), (width, height),
                          interpolation=cv2.INTER_CUBIC) * (6 * 1.35 ** octave)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_synthetic_jpegs(folder: str | Path, count: int,
                          shape: tuple[int, int] = COCO_IMAGE_SHAPE,
                          quality: int = 95) -> list[str]:
    """Write ``count`` :func:`synthetic_photo` JPEGs into ``folder``; their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f'synthetic_{i:04d}.jpg'
        cv2.imwrite(str(path), synthetic_photo(*shape, seed=i),
                    [cv2.IMWRITE_JPEG_QUALITY, quality])
        paths.append(str(path))
    return paths


@dataclass
class PipelineTiming:
    """Per image, averaged over the images (what throughput depends on); the median
    over ``repeats`` passes."""
    ms_per_img: float  #: CPU time of the process per image, all stages
    wall_ms_per_img: float  #: wall-clock time per image, all stages
    stage_ms: dict[str, float] = field(default_factory=dict)  #: CPU time per stage
    images: int = 0
    jpeg_kb: float = 0.


class _Timed:
    """A pipeline transform that adds its CPU time to ``totals[name]``."""

    def __init__(self, transform, name: str, totals: dict) -> None:
        self.transform, self.name, self.totals = transform, name, totals

    def __call__(self, results):
        start = time.thread_time()
        out = self.transform(results)
        self.totals[self.name] = self.totals.get(self.name, 0.) + time.thread_time() - start
        return out


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """OpenCV and torch on one thread, as each DataLoader worker should run."""
    cv_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(cv_threads)
        torch.set_num_threads(torch_threads)


def time_pipeline(dataset_cfg: dict, image_dir: str | Path, batch_size: int,
                  repeats: int = 3, warmup: int = 4) -> PipelineTiming:
    """Time ``dataset_cfg`` (a config's ``train_dataloader.dataset``) on the images
    of ``image_dir``, one core, ``default_collate`` into batches of ``batch_size``.

    Every index carries an augmentation seed as ``SeededSampler`` gives it, so each
    pass draws new crops and all passes are reproducible.
    """
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS

    from gtsa_mm.datasets import SeededIndex
    dataset = DATASETS.build(dict(dataset_cfg, data_root=str(image_dir)))
    totals: dict[str, float] = {}
    transforms = dataset.pipeline.transforms
    for i, t in enumerate(transforms):
        transforms[i] = _Timed(t, type(t).__name__, totals)
    count = len(dataset)
    batch_size = min(batch_size, count)
    passes = []
    with single_threaded():
        for i in range(warmup):
            dataset[SeededIndex(i % count, (1, 0, i))]
        for rep in range(repeats):
            totals.clear()
            start_cpu, start_wall = time.thread_time(), time.perf_counter()
            batch = []
            for i in range(count):
                batch.append(dataset[SeededIndex(i, (0, rep, i))])
                if len(batch) == batch_size or i == count - 1:
                    t0 = time.thread_time()
                    default_collate(batch)
                    totals['collate'] = totals.get('collate', 0.) + time.thread_time() - t0
                    batch = []
            cpu, wall = time.thread_time() - start_cpu, time.perf_counter() - start_wall
            passes.append((cpu, wall, dict(totals)))
    by_cpu = sorted(passes, key=lambda p: p[0])
    cpu, _, stages = by_cpu[len(by_cpu) // 2]
    wall = statistics.median(p[1] for p in passes)
    sizes = [Path(dataset.get_data_info(i)['img_path']).stat().st_size for i in range(count)]
    return PipelineTiming(
        ms_per_img=1000 * cpu / count, wall_ms_per_img=1000 * wall / count,
        stage_ms={k: round(1000 * v / count, 3) for k, v in stages.items()},
        images=count, jpeg_kb=round(float(np.mean(sizes)) / 1000, 1))


def workers_needed(images_per_s: float, ms_per_img: float) -> int:
    """DataLoader workers (one core each) that keep up with ``images_per_s``."""
    return int(np.ceil(images_per_s * ms_per_img / 1000 - 1e-9))
