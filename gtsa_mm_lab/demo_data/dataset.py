"""The demo data set on disk: seeded samples per (seed, split, index), the output layout
(unlabelled pretraining images, COCO instances and ADE20K-style label maps of the same
scenes), meta.json and the up-to-date check. ``tools/make_demo_data.py`` is its command
line."""
from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .annotations import (
    coco_annotations,
    coco_categories,
    default_min_area,
    drop_tiny_instances,
    semantic_map,
)
from .render import render_scene
from .scenes import CLASS_NAMES, CLASSES, PALETTE, sample_scene

GENERATOR_NAME = 'gtsa_mm tools/make_demo_data.py'
GENERATOR_VERSION = '1.1.0'
DEFAULT_OUT = 'data/demo'
JPEG_QUALITY = 92
META_FILE = 'meta.json'
OWNED_ENTRIES = ('pretrain', 'coco', 'ade', META_FILE)
# Integer stream ids so every split draws from its own seed sequence.
SPLIT_STREAMS = {'pretrain': 0, 'train': 1, 'val': 2}
ADE_SPLIT_NAMES = {'train': 'training', 'val': 'validation'}


@dataclass
class LabelledSample:
    image: np.ndarray
    instance_map: np.ndarray
    semantic_map: np.ndarray
    instance_labels: dict[int, int]


# --------------------------------------------------------------------------- samples
def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Independent stream per image: image i does not depend on how many others there are."""
    return np.random.default_rng([seed, SPLIT_STREAMS[split], index])


def make_labelled_sample(rng: np.random.Generator, width: int, height: int, min_objects: int,
                         max_objects: int, min_classes: int = 3,
                         max_tries: int = 20, class_colours: bool = False,
                         object_scale: float = 1.0) -> LabelledSample:
    """Render scenes until one shows at least ``min_classes`` classes after occlusion."""
    wanted = min(min_classes, min_objects, len(CLASSES))
    min_area = default_min_area(width, height)
    best = None
    for _ in range(max_tries):
        scene = sample_scene(rng, width, height, min_objects, max_objects,
                             class_colours=class_colours, object_scale=object_scale)
        rendered = render_scene(scene)
        instances = drop_tiny_instances(rendered.instance_map, rendered.full_areas, min_area)
        labels = {int(i): scene.objects[i - 1].label for i in np.unique(instances) if i > 0}
        sample = LabelledSample(rendered.image, instances, semantic_map(instances, labels), labels)
        num_classes = len(set(labels.values()))
        if best is None or num_classes > len(set(best.instance_labels.values())):
            best = sample
        if num_classes >= wanted:
            break
    return best


def make_pretrain_image(rng: np.random.Generator, width: int, height: int, min_objects: int,
                        max_objects: int, class_colours: bool = False,
                        object_scale: float = 1.0) -> np.ndarray:
    return render_scene(sample_scene(rng, width, height, min_objects, max_objects,
                                     class_colours=class_colours,
                                     object_scale=object_scale)).image


# --------------------------------------------------------------------------- files
def encode_jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]),
                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError('JPEG encoding failed')
    return data.tobytes()


def encode_png(label_map: np.ndarray) -> bytes:
    ok, data = cv2.imencode('.png', label_map.astype(np.uint8))
    if not ok:
        raise RuntimeError('PNG encoding failed')
    return data.tobytes()


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 0
    width: int = 256
    height: int = 256
    num_pretrain: int = 512
    num_train: int = 128
    num_val: int = 32
    min_objects: int = 6
    max_objects: int = 14
    class_colours: bool = False
    object_scale: float = 1.0

    def to_json(self) -> dict:
        return {'version': GENERATOR_VERSION, 'seed': self.seed,
                'image_size': [self.width, self.height], 'num_pretrain': self.num_pretrain,
                'num_train': self.num_train, 'num_val': self.num_val,
                'min_objects': self.min_objects, 'max_objects': self.max_objects,
                'class_colours': self.class_colours, 'object_scale': self.object_scale}


def image_name(split: str, index: int) -> str:
    return f'{split}_{index:06d}'


def expected_files(config: GeneratorConfig) -> dict[Path, int]:
    """Folders the data set is made of and how many files each holds."""
    counts = {Path('pretrain'): config.num_pretrain}
    for split, num in (('train', config.num_train), ('val', config.num_val)):
        ade = ADE_SPLIT_NAMES[split]
        counts[Path('coco', split)] = num
        counts[Path('ade', 'images', ade)] = num
        counts[Path('ade', 'annotations', ade)] = num
    return counts


def read_meta(out: Path) -> dict | None:
    """The meta.json this tool wrote under ``out``, or None."""
    try:
        meta = json.loads((out / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get('generator') == GENERATOR_NAME else None


def is_up_to_date(out: Path, config: GeneratorConfig) -> bool:
    meta = read_meta(out)
    if meta is None or not meta.get('complete') or meta.get('config') != config.to_json():
        return False
    for split in ('train', 'val'):
        if not (out / 'coco' / 'annotations' / f'instances_{split}.json').is_file():
            return False
    for folder, count in expected_files(config).items():
        path = out / folder
        if not path.is_dir() or sum(1 for _ in path.iterdir()) != count:
            return False
    return True


def _progress(total: int, quiet: bool, desc: str = 'demo data') -> Callable[[], None]:
    """Return a callback to call once per image: tqdm if available, else a printed counter."""
    if quiet or total == 0:
        return lambda: None
    try:
        from tqdm import tqdm
    except ImportError:
        done = [0]
        interactive = sys.stderr.isatty()
        step = max(1, total // (50 if interactive else 10))

        def tick() -> None:
            done[0] += 1
            if done[0] % step == 0 or done[0] == total:
                last = done[0] == total
                print(f'{desc}: {done[0]}/{total}', end='\n' if last or not interactive else '\r',
                      file=sys.stderr, flush=True)
        return tick
    bar = tqdm(total=total, desc=desc, unit='img', file=sys.stderr)

    def tick() -> None:
        bar.update()
        if bar.n >= total:
            bar.close()
    return tick


def _iter_labelled(config: GeneratorConfig, split: str,
                   count: int) -> Iterator[tuple[int, LabelledSample]]:
    for index in range(count):
        yield index, make_labelled_sample(scene_rng(config.seed, split, index), config.width,
                                          config.height, config.min_objects, config.max_objects,
                                          class_colours=config.class_colours,
                                          object_scale=config.object_scale)


def generate(out: Path, config: GeneratorConfig, quiet: bool = False) -> dict:
    """Write the whole data set under ``out``, replacing only ``OWNED_ENTRIES``; return meta."""
    out.mkdir(parents=True, exist_ok=True)
    for entry in OWNED_ENTRIES:
        path = out / entry
        if path.is_dir():
            shutil.rmtree(path)
    # Claim the folder first: an interrupted run leaves an incomplete meta.json of ours,
    # so the next run regenerates instead of refusing to touch a foreign folder.
    _write_meta(out, {'generator': GENERATOR_NAME, 'version': GENERATOR_VERSION,
                      'complete': False})
    for folder in expected_files(config):
        (out / folder).mkdir(parents=True, exist_ok=True)
    (out / 'coco' / 'annotations').mkdir(parents=True, exist_ok=True)
    tick = _progress(config.num_pretrain + config.num_train + config.num_val, quiet)

    for index in range(config.num_pretrain):
        image = make_pretrain_image(scene_rng(config.seed, 'pretrain', index), config.width,
                                    config.height, config.min_objects, config.max_objects,
                                    class_colours=config.class_colours,
                                    object_scale=config.object_scale)
        (out / 'pretrain' / f'{image_name("pretrain", index)}.jpg').write_bytes(encode_jpeg(image))
        tick()

    num_instances = {}
    for split, count in (('train', config.num_train), ('val', config.num_val)):
        ade = ADE_SPLIT_NAMES[split]
        images, annotations = [], []
        for index, sample in _iter_labelled(config, split, count):
            name = image_name(split, index)
            jpeg = encode_jpeg(sample.image)
            (out / 'coco' / split / f'{name}.jpg').write_bytes(jpeg)
            (out / 'ade' / 'images' / ade / f'{name}.jpg').write_bytes(jpeg)
            (out / 'ade' / 'annotations' / ade / f'{name}.png').write_bytes(
                encode_png(sample.semantic_map))
            image_id = index + 1
            images.append({'id': image_id, 'file_name': f'{name}.jpg',
                           'width': config.width, 'height': config.height})
            annotations += coco_annotations(sample.instance_map, sample.instance_labels,
                                            image_id, len(annotations) + 1)
            tick()
        coco = {'info': {'description': f'gtsa-mm demo scenes ({split})',
                         'version': GENERATOR_VERSION},
                'licenses': [], 'categories': coco_categories(), 'images': images,
                'annotations': annotations}
        (out / 'coco' / 'annotations' / f'instances_{split}.json').write_text(
            json.dumps(coco, separators=(',', ':')))
        num_instances[split] = len(annotations)

    meta = {
        'generator': GENERATOR_NAME,
        'version': GENERATOR_VERSION,
        'complete': True,
        'config': config.to_json(),
        'seed': config.seed,
        'image_size': {'width': config.width, 'height': config.height},
        'classes': list(CLASS_NAMES),
        'palette': [list(color) for color in PALETTE],
        'num_images': {'pretrain': config.num_pretrain, 'train': config.num_train,
                       'val': config.num_val},
        'num_instances': num_instances,
        'labels': 'COCO category_id k and ADE label value k both mean classes[k - 1]; '
                  'ADE value 0 is background/other (ignored with reduce_zero_label=True)',
    }
    _write_meta(out, meta)
    return meta


def _write_meta(out: Path, meta: dict) -> None:
    tmp = out / (META_FILE + '.tmp')
    tmp.write_text(json.dumps(meta, indent=2) + '\n')
    tmp.replace(out / META_FILE)


