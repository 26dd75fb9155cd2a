"""Labels of a rendered scene: visible-instance filtering, ADE-style semantic maps and COCO
instance annotations (compressed RLE through pycocotools)."""
from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from .scenes import CLASS_NAMES


def default_min_area(width: int, height: int) -> int:
    return max(16, round(0.0006 * width * height))


def drop_tiny_instances(instance_map: np.ndarray, full_areas: np.ndarray, min_area: int,
                        min_visible_fraction: float = 0.2) -> np.ndarray:
    """Zero out objects whose visible area is tiny in pixels or relative to their full area."""
    areas = np.bincount(instance_map.ravel(), minlength=len(full_areas) + 1)
    keep = (areas[1:] >= min_area) & (areas[1:] >= min_visible_fraction * full_areas)
    lut = np.concatenate([[0], np.where(keep, np.arange(1, len(keep) + 1), 0)])
    return lut[instance_map].astype(np.int32)


def semantic_map(instance_map: np.ndarray, instance_labels: dict[int, int]) -> np.ndarray:
    """ADE-style label map: 0 where no labelled object is visible, else its class label."""
    lut = np.zeros(int(instance_map.max()) + 1, np.uint8)
    for instance_id, label in instance_labels.items():
        lut[instance_id] = label
    return lut[instance_map]


def encode_rle(mask: np.ndarray) -> dict:
    """COCO's compressed RLE of a binary mask, with ``counts`` as a str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, np.uint8)))
    return {'size': [int(v) for v in rle['size']], 'counts': rle['counts'].decode('ascii')}


def coco_annotations(instance_map: np.ndarray, instance_labels: dict[int, int], image_id: int,
                     first_annotation_id: int) -> list[dict]:
    """One COCO annotation per visible instance; masks, areas and boxes all from the map."""
    annotations = []
    for offset, instance_id in enumerate(sorted(instance_labels)):
        mask = instance_map == instance_id
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        x, y = int(cols[0]), int(rows[0])
        annotations.append({
            'id': first_annotation_id + offset,
            'image_id': image_id,
            'category_id': instance_labels[instance_id],
            'bbox': [x, y, int(cols[-1]) - x + 1, int(rows[-1]) - y + 1],
            'area': int(mask.sum()),
            'iscrowd': 0,
            'segmentation': encode_rle(mask),
        })
    return annotations


def coco_categories() -> list[dict]:
    return [{'id': k, 'name': name, 'supercategory': 'shape'}
            for k, name in enumerate(CLASS_NAMES, start=1)]


