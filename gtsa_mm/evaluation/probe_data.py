"""A labelled probe set: images and label maps in ADE20K / VOC-style folders."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ['DenseProbeData', 'load_probe_data']


@dataclass(frozen=True)
class DenseProbeData:
    """Training and validation images (RGB uint8) with ``(N, H, W)`` int64 label maps.

    Labels are ``0..num_classes-1``; ``ignore_index`` marks pixels that are not scored.
    """
    train_images: list[np.ndarray]
    train_labels: np.ndarray
    val_images: list[np.ndarray]
    val_labels: np.ndarray
    num_classes: int
    ignore_index: int = 255
    class_names: tuple[str, ...] | None = None

    def subset_indices(self, fraction: float, seed: int = 0) -> np.ndarray:
        """Sorted indices of a seeded ``fraction`` of the training images (at least one)."""
        if not 0 < fraction <= 1:
            raise ValueError(f'label fraction must be in (0, 1], got {fraction}')
        if fraction == 1:
            return np.arange(len(self.train_images))
        count = max(1, round(fraction * len(self.train_images)))
        return np.sort(np.random.default_rng(seed).permutation(len(self.train_images))[:count])


def _read_split(img_dir: Path, ann_dir: Path, img_suffix: str, seg_map_suffix: str,
                limit: int | None, label_size: int | None, reduce_zero_label: bool,
                ignore_index: int) -> tuple[list[np.ndarray], np.ndarray]:
    paths = sorted(img_dir.glob(f'*{img_suffix}'))[:limit]
    if not paths:
        raise FileNotFoundError(
            f'no *{img_suffix} images in {img_dir}: the probe set needs ADE20K/VOC-style '
            'folders (images and label maps of the same names); for the demo data run '
            'tools/make_demo_data.py')
    images, labels = [], []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f'cannot read image {path}')
        label_path = ann_dir / f'{path.name[:-len(img_suffix)]}{seg_map_suffix}'
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        if label is None:
            raise FileNotFoundError(f'missing or unreadable label map {label_path} for {path}')
        if label.ndim != 2:
            raise ValueError(f'{label_path}: a label map must have one channel of class '
                             f'indices, got shape {label.shape}')
        if label_size is not None:
            label = cv2.resize(label, (label_size, label_size), interpolation=cv2.INTER_NEAREST)
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        labels.append(label.astype(np.int64))
    shapes = {label.shape for label in labels}
    if len(shapes) > 1:
        raise ValueError(f'label maps in {ann_dir} have {len(shapes)} different sizes; set '
                         'label_size (DenseProbeHook / --label-size) to score them at one '
                         'square size')
    stacked = np.stack(labels)
    if reduce_zero_label:  # MMSegmentation's rule for ADE20K: 0 -> ignored, k -> k - 1
        ignored = (stacked == 0) | (stacked == ignore_index)
        stacked = np.where(ignored, ignore_index, stacked - 1)
    return images, stacked


def _class_names(data_root: Path, meta_file: str | None) -> tuple[str, ...] | None:
    if not meta_file:
        return None
    path = data_root / meta_file
    try:
        names = json.loads(path.read_text())['classes']
    except (OSError, ValueError, KeyError):
        return None
    return tuple(str(n) for n in names)


def load_probe_data(data_root: str | Path,
                    train_img_dir: str = 'images/training',
                    train_ann_dir: str = 'annotations/training',
                    val_img_dir: str = 'images/validation',
                    val_ann_dir: str = 'annotations/validation',
                    img_suffix: str = '.jpg',
                    seg_map_suffix: str = '.png',
                    num_classes: int | None = None,
                    reduce_zero_label: bool = True,
                    ignore_index: int = 255,
                    label_size: int | None = None,
                    max_train: int | None = None,
                    max_val: int | None = None,
                    meta_file: str | None = '../meta.json') -> DenseProbeData:
    """Read a labelled probe set (the defaults read the ADE20K layout and the demo data).

    Args:
        data_root: Folder holding the image and label folders.
        num_classes: Classes after ``reduce_zero_label``; None: the length of the
            ``classes`` list in ``meta_file`` (the demo data's ``meta.json``), else the
            largest label seen + 1.
        reduce_zero_label: ADE20K's rule (label 0 ignored, ``k`` becomes ``k - 1``).
            False for VOC-style maps whose ignored pixels are already ``ignore_index``.
        label_size: Resize label maps (nearest) to this square size; needed when their
            sizes differ.
        max_train, max_val: Use at most this many images (sorted by name).
    """
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f'probe data root {root} does not exist (for the demo data '
                                'run tools/make_demo_data.py)')
    train = _read_split(root / train_img_dir, root / train_ann_dir, img_suffix,
                        seg_map_suffix, max_train, label_size, reduce_zero_label, ignore_index)
    val = _read_split(root / val_img_dir, root / val_ann_dir, img_suffix, seg_map_suffix,
                      max_val, label_size, reduce_zero_label, ignore_index)
    names = _class_names(root, meta_file)
    if num_classes is None:
        if names is not None:
            num_classes = len(names)
        else:
            seen = np.concatenate([train[1].ravel(), val[1].ravel()])
            seen = seen[seen != ignore_index]
            num_classes = int(seen.max()) + 1 if seen.size else 1
    return DenseProbeData(train[0], train[1], val[0], val[1], num_classes, ignore_index,
                          names if names and len(names) == num_classes else None)
