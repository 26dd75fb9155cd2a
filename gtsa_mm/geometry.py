"""Geometry of GTSA's multi-crop views: crop boxes, shared regions and rotations.

Conventions used everywhere in gtsa_mm (and proven by ``tests/test_geometry.py``):

* A box is ``(x0, y0, x1, y1)`` in continuous pixel-edge coordinates: pixel column
  ``j`` covers ``[j, j + 1)``. A crop box of integer coordinates selects
  ``image[y0:y1, x0:x1]``.
* A view is a crop resized to ``size x size`` and then rotated by ``k`` quarter
  turns with ``np.rot90(view, k)`` / ``torch.rot90(x, k, dims=(-2, -1))`` (counter-
  clockwise on screen). ``k`` is the view's rotation label, its angle is ``90 * k``.
* "A box in view ``v``'s frame" means the box in ``v``'s output pixels *after* its
  rotation, i.e. where that image content actually lies in the tensor the network
  sees.

The quarter-turn rule is written once, in :func:`quarter_turn`; ``rotate_boxes``,
:func:`view_matrix` (the warp ``GTSAMultiCrop`` renders a view with) and
:func:`rot90_cell_table` (the cell permutations that turn RoI-aligned teacher regions,
``gtsa_mm.models.utils.rot90_table`` on a device) are built from it, all here.

All functions are vectorised numpy over leading dimensions.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Quarter-turn rotations (labels 0..3) and their angles in degrees.
NUM_ROTATIONS = 4

#: The per-sample geometry ``GTSAMultiCrop`` writes, ``PackInputs(algorithm_keys=...)``
#: must carry and ``GTSA`` reads (all but ``crop_boxes``, kept for inspection); the
#: configs' ``geometry_keys`` lists are tested to equal it.
GTSA_GEOMETRY_KEYS = ('crop_boxes', 'rotation_label', 'global_region_boxes',
                      'view_region_boxes')

# One counter-clockwise quarter turn of a frame of side ``extent`` (np.rot90 /
# torch.rot90 over the last two dims) sends the point (x, y) to (y, extent - x); k turns
# send it to _TURN_LINEAR[k] @ (x, y) + extent * _TURN_OFFSET[k].
_TURN_LINEAR = np.array([[[1, 0], [0, 1]], [[0, 1], [-1, 0]],
                         [[-1, 0], [0, -1]], [[0, -1], [1, 0]]], dtype=np.float64)
_TURN_OFFSET = np.array([[0, 0], [0, 1], [1, 1], [1, 0]], dtype=np.float64)


def quarter_turn(points: np.ndarray, k: int | np.ndarray,
                 extent: float | np.ndarray) -> np.ndarray:
    """Where ``(..., 2)`` points ``(x, y)`` of a square frame lie after ``k`` quarter turns.

    The one definition of the rotation every view gets: ``np.rot90(view, k)`` /
    ``torch.rot90(x, k, dims=(-2, -1))``, counter-clockwise on screen, one turn
    sending ``(x, y)`` to ``(y, extent - x)``. ``extent`` is the frame's side for
    pixel-edge coordinates (boxes) and ``side - 1`` for pixel indices or centres
    (warps, cell tables).

    Args:
        points: ``(..., 2)`` points ``(x, y)``.
        k: quarter turns, any integers (broadcastable with ``points[..., 0]``).
        extent: frame extent (broadcastable with ``points[..., 0]``).
    """
    points = np.asarray(points, dtype=np.float64)
    k = np.mod(np.asarray(k), NUM_ROTATIONS)
    extent = np.asarray(extent, dtype=np.float64)
    turned = np.einsum('...ij,...j->...i', _TURN_LINEAR[k], points)
    return turned + extent[..., None] * _TURN_OFFSET[k]


def quarter_turn_matrix(k: int, extent: float) -> np.ndarray:
    """``3 x 3`` homogeneous form of :func:`quarter_turn` for one ``k`` and ``extent``."""
    k = int(k) % NUM_ROTATIONS
    matrix = np.eye(3)
    matrix[:2, :2] = _TURN_LINEAR[k]
    matrix[:2, 2] = extent * _TURN_OFFSET[k]
    return matrix


def view_matrix(box: np.ndarray, size: int, k: int, scale_xy: tuple[float, float]
                ) -> np.ndarray:
    """``2 x 3`` map from a rotated view's pixels to a source image's pixels.

    The view is ``box`` (source-image edge coordinates) resized to ``size`` and
    turned ``k`` quarter turns like ``np.rot90``; ``scale_xy`` is how many
    full-resolution pixels one pixel of the sampled image spans (1 for the image
    itself, ~2 for its half-resolution copy). Pixel centres are mapped as
    ``cv2.resize`` maps them.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    sx, sy = scale_xy
    # rotated-view pixel (u, v) -> unrotated-view pixel (x, y): the view's quarter turn
    # undone, on pixel indices (extent size - 1)
    rot = quarter_turn_matrix(-int(k), size - 1.)
    # unrotated-view pixel -> sampled-image pixel
    ax, ay = (x1 - x0) / size / sx, (y1 - y0) / size / sy
    crop = np.array([[ax, 0, (x0 + 0.5 * (x1 - x0) / size) / sx - 0.5],
                     [0, ay, (y0 + 0.5 * (y1 - y0) / size) / sy - 0.5],
                     [0, 0, 1]], dtype=np.float64)
    return (crop @ rot)[:2]


def rot90_cell_table(size: int) -> np.ndarray:
    """``(4, size * size)`` int64 cell permutations of ``np.rot90(grid, k)``, k = 0..3.

    Row ``k`` lists, for each cell of the turned ``size x size`` grid, the source
    cell: the cell's index point ``(col, row)`` turned back by ``k`` with
    :func:`quarter_turn` (the views' rule, on indices: extent ``size - 1``).
    """
    rows, cols = np.mgrid[0:size, 0:size]
    cells = np.stack([cols, rows], -1).reshape(-1, 2)  # (x, y) of every turned cell
    k = -np.arange(NUM_ROTATIONS)[:, None]  # turn back
    source_x, source_y = np.moveaxis(quarter_turn(cells, k, size - 1), -1, 0)
    return np.rint(source_y * size + source_x).astype(np.int64)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of ``(..., 4)`` boxes; empty boxes have area 0."""
    width = np.clip(boxes[..., 2] - boxes[..., 0], 0, None)
    height = np.clip(boxes[..., 3] - boxes[..., 1], 0, None)
    return width * height


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection box of broadcastable ``(..., 4)`` boxes (may be empty)."""
    return np.concatenate(
        [np.maximum(a[..., :2], b[..., :2]),
         np.minimum(a[..., 2:], b[..., 2:])], axis=-1)


def image_to_view(boxes: np.ndarray, crop_boxes: np.ndarray,
                  size: int | np.ndarray) -> np.ndarray:
    """Map image-pixel boxes into the (unrotated) output frame of crops.

    Args:
        boxes: ``(..., 4)`` boxes in image pixels.
        crop_boxes: ``(..., 4)`` crop boxes (broadcastable with ``boxes``).
        size: the side of the square output each crop was resized to.

    Returns:
        ``(..., 4)`` boxes in output pixels of each crop.
    """
    size = np.asarray(size, dtype=np.float64)[..., None]
    origin = np.concatenate([crop_boxes[..., :2], crop_boxes[..., :2]], axis=-1)
    extent = np.concatenate([crop_boxes[..., 2:] - crop_boxes[..., :2]] * 2, axis=-1)
    return (boxes - origin) * (size / extent)


def rotate_boxes(boxes: np.ndarray, k: int | np.ndarray,
                 size: int | np.ndarray) -> np.ndarray:
    """Rotate boxes of a ``size x size`` frame by ``k`` quarter turns.

    Matches ``np.rot90(image, k)``: :func:`quarter_turn` applied to the box as a
    pair of intervals (a point ``(x, y)`` moves to ``(y, size - x)`` per quarter
    turn; an axis whose sign flips swaps its two ends), so an empty box stays
    empty.

    Args:
        boxes: ``(..., 4)`` boxes.
        k: quarter turns (broadcastable with ``boxes[..., 0]``); any integer.
        size: frame side (broadcastable with ``boxes[..., 0]``).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    k = np.mod(np.broadcast_to(np.asarray(k), boxes.shape[:-1]), NUM_ROTATIONS)
    size = np.broadcast_to(np.asarray(size, dtype=np.float64), boxes.shape[:-1])
    low, high = boxes[..., :2], boxes[..., 2:]
    keep = np.clip(_TURN_LINEAR[k], 0, None)  # axes kept in direction
    flip = np.clip(_TURN_LINEAR[k], None, 0)  # axes reversed: the ends swap
    offset = size[..., None] * _TURN_OFFSET[k]

    def turned(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (np.einsum('...ij,...j->...i', keep, a)
                + np.einsum('...ij,...j->...i', flip, b) + offset)

    return np.concatenate([turned(low, high), turned(high, low)], axis=-1)


def shared_region_boxes(crop_boxes: np.ndarray, rotation_labels: np.ndarray,
                        view_sizes: Sequence[int], num_global: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the region each (global, view) pair shares, in both frames.

    Args:
        crop_boxes: ``(V, 4)`` crop boxes in image pixels; the first
            ``num_global`` are the global views.
        rotation_labels: ``(V,)`` quarter turns of each view.
        view_sizes: ``(V,)`` output side of each view.
        num_global: number of global (teacher) views.

    Returns:
        ``(global_region_boxes, view_region_boxes)``: ``(G, V, 4)`` the shared
        region of global ``g`` and view ``v`` in ``g``'s rotated frame, and
        ``(V, G, 4)`` the same region in ``v``'s rotated frame.
    """
    crop_boxes = np.asarray(crop_boxes, dtype=np.float64)
    sizes = np.asarray(view_sizes, dtype=np.float64)
    labels = np.asarray(rotation_labels)
    globals_ = crop_boxes[:num_global]
    shared = box_intersection(globals_[:, None], crop_boxes[None])  # (G, V, 4)
    in_global = image_to_view(shared, globals_[:, None], sizes[:num_global, None])
    in_global = rotate_boxes(in_global, labels[:num_global, None], sizes[:num_global, None])
    shared_t = shared.transpose(1, 0, 2)  # (V, G, 4)
    in_view = image_to_view(shared_t, crop_boxes[:, None], sizes[:, None])
    in_view = rotate_boxes(in_view, labels[:, None], sizes[:, None])
    return in_global.astype(np.float32), in_view.astype(np.float32)


def sample_crop_boxes(rng: np.random.Generator, height: int, width: int,
                      scale: tuple[float, float], ratio: tuple[float, float],
                      num: int, attempts: int = 10) -> np.ndarray:
    """Draw ``num`` RandomResizedCrop boxes at once, as torchvision does each.

    For every box, up to ``attempts`` (area, log-aspect) draws are made and the
    first that fits the image is kept; if none fits, the whole image is centre
    cropped to the nearest allowed aspect ratio (torchvision's fallback).

    Returns:
        ``(num, 4)`` integer boxes ``(x0, y0, x1, y1)`` as float64.
    """
    area = height * width
    target = area * rng.uniform(scale[0], scale[1], size=(num, attempts))
    log_ratio = rng.uniform(math.log(ratio[0]), math.log(ratio[1]), size=(num, attempts))
    aspect = np.exp(log_ratio)
    w = np.rint(np.sqrt(target * aspect))
    h = np.rint(np.sqrt(target / aspect))
    fits = (w > 0) & (h > 0) & (w <= width) & (h <= height)
    first = np.argmax(fits, axis=1)
    w = w[np.arange(num), first]
    h = h[np.arange(num), first]
    ok = fits.any(axis=1)
    # torchvision's fallback: centre crop with the aspect ratio clamped into range.
    in_ratio = width / height
    if in_ratio < min(ratio):
        fw, fh = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        fw, fh = int(round(height * max(ratio))), height
    else:
        fw, fh = width, height
    w = np.where(ok, w, fw)
    h = np.where(ok, h, fh)
    y0 = np.where(ok, np.floor(rng.uniform(0, 1, num) * (height - h + 1)), (height - h) // 2)
    x0 = np.where(ok, np.floor(rng.uniform(0, 1, num) * (width - w + 1)), (width - w) // 2)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=-1)


def sample_overlapping_crops(rng: np.random.Generator, height: int, width: int,
                             num_global: int, num_local: int,
                             global_scale: tuple[float, float],
                             local_scale: tuple[float, float],
                             ratio: tuple[float, float],
                             global_overlap: float = 0.02,
                             local_overlap: float = 0.01,
                             candidates: int = 64) -> np.ndarray:
    """Sample GTSA's crop boxes so every (global, other) pair shares a region.

    Each crop after the first is redrawn until it overlaps every global crop
    drawn before it by more than ``global_overlap`` (another global crop) or
    ``local_overlap`` (a local crop) of the image area. Candidates are drawn in
    vectorised batches of ``candidates``; if a whole batch fails (possible on
    degenerate images), the crop falls back to the region all globals share,
    which satisfies the rule by construction.

    Returns:
        ``(num_global + num_local, 4)`` crop boxes in image pixels.
    """
    image_area = float(height * width)

    def first_overlapping(cand: np.ndarray, globals_: np.ndarray, threshold: float):
        """Per row of ``(..., C, 4)`` candidates: the first that overlaps enough."""
        overlap = box_area(box_intersection(cand[..., None, :], globals_)) / image_area
        good = np.all(overlap > threshold, axis=-1)  # (..., C)
        pick = np.take_along_axis(cand, np.argmax(good, -1)[..., None, None], -2)[..., 0, :]
        common = globals_[0]
        for g in globals_[1:]:
            common = box_intersection(common, g)
        return np.where(good.any(-1)[..., None], pick, common)

    globals_ = sample_crop_boxes(rng, height, width, global_scale, ratio, 1)
    for _ in range(num_global - 1):
        cand = sample_crop_boxes(rng, height, width, global_scale, ratio, candidates)
        globals_ = np.concatenate([globals_, first_overlapping(cand, globals_,
                                                               global_overlap)[None]])
    if num_local == 0:
        return globals_
    cand = sample_crop_boxes(rng, height, width, local_scale, ratio, num_local * candidates)
    locals_ = first_overlapping(cand.reshape(num_local, candidates, 4), globals_,
                                local_overlap)
    return np.concatenate([globals_, locals_])
