#!/usr/bin/env python
"""Generate the synthetic, non-object-centric scene data set of the gtsa-mm demo.

GTSA is meant for scene images (COCO, ADE20K) in which two random crops show different
things, and it learns to be sensitive to rotations. The demo must run on a 2-core CPU, so
this tool draws small outdoor-like scenes instead: a sky/ground background with a wavy
horizon, clouds, grass strokes, rocks and bushes, and many textured objects of eight
classes at varied positions, scales and angles, drawn back to front with perspective
(farther objects are smaller and higher), lighting from above and shadows below, so a
rotated scene is recognisably rotated. Classes differ by shape and surface texture only:
every object gets its own random body and pattern colours, so a model has to see shapes and
textures, not colours (with few labelled images, colour would otherwise make segmentation
trivial). ``--class-colours`` gives each class fixed colours instead (generator 1.0 data).

Output layout under ``--out`` (default ``data/demo``)::

    pretrain/pretrain_000000.jpg ...              unlabelled images for pretraining
    coco/{train,val}/{train,val}_000000.jpg ...   labelled images
    coco/annotations/instances_{train,val}.json   COCO instances (RLE masks of visible parts)
    ade/images/{training,validation}/*.jpg        the same labelled images, ADE20K layout
    ade/annotations/{training,validation}/*.png   uint8 label maps: 0 = other, k = class k
    meta.json                                     classes, palette, counts, size, seed, version

The COCO and ADE splits share their scenes, so the label maps are exactly the union of the
COCO masks (category ``k`` of COCO is label ``k`` of ADE). Every image is seeded from
``(seed, split, index)``, so output is byte-identical for the same flags, and a second run
with the same flags returns at once.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

GENERATOR_NAME = 'gtsa_mm tools/make_demo_data.py'
GENERATOR_VERSION = '1.1.0'
DEFAULT_OUT = 'data/demo'
JPEG_QUALITY = 92
META_FILE = 'meta.json'
OWNED_ENTRIES = ('pretrain', 'coco', 'ade', META_FILE)
# Integer stream ids so every split draws from its own seed sequence.
SPLIT_STREAMS = {'pretrain': 0, 'train': 1, 'val': 2}
ADE_SPLIT_NAMES = {'train': 'training', 'val': 'validation'}
_SHIFT = 4  # sub-pixel bits for cv2 polygon filling
Color = tuple[int, int, int]


@dataclass(frozen=True)
class ClassSpec:
    """One object class: its outline, surface pattern and two colours (RGB)."""

    name: str
    shape: str
    texture: str
    color: Color
    pattern_color: Color


CLASSES: tuple[ClassSpec, ...] = (
    ClassSpec('striped_disc', 'disc', 'stripes', (205, 45, 40), (245, 235, 220)),
    ClassSpec('checkered_square', 'square', 'checker', (40, 70, 200), (240, 205, 40)),
    ClassSpec('dotted_triangle', 'triangle', 'dots', (45, 165, 65), (20, 35, 25)),
    ClassSpec('star', 'star', 'speckle', (210, 50, 45), (140, 25, 25)),
    ClassSpec('ringed_ellipse', 'ellipse', 'rings', (140, 60, 170), (235, 190, 230)),
    ClassSpec('dotted_hexagon', 'hexagon', 'dots', (45, 75, 195), (235, 235, 240)),
    ClassSpec('wavy_cross', 'cross', 'waves', (240, 140, 30), (90, 45, 15)),
    ClassSpec('ring', 'ring', 'speckle', (50, 160, 70), (25, 95, 40)),
)
CLASS_NAMES: tuple[str, ...] = tuple(spec.name for spec in CLASSES)
PALETTE: tuple[Color, ...] = tuple(spec.color for spec in CLASSES)


@dataclass(frozen=True)
class SceneObject:
    """A shape placed in a scene. ``label`` is 1..N for classes, 0 for background clutter."""

    label: int
    shape: str
    texture: str
    center: tuple[float, float]
    radius: float
    aspect: float
    angle: float
    color: Color
    pattern_color: Color
    period: float
    phase: float
    outline_jitter: tuple[float, ...] = ()
    shadow: bool = True


@dataclass(frozen=True)
class Scene:
    """Everything needed to render one image; rendering adds only seeded pixel noise."""

    width: int
    height: int
    horizon: float
    hills: tuple[tuple[float, float, float], ...]
    sky_top: Color
    sky_bottom: Color
    ground_far: Color
    ground_near: Color
    sun: tuple[float, float, float] | None
    clouds: tuple[tuple[float, float, float, float], ...]
    objects: tuple[SceneObject, ...]
    noise_seed: int


@dataclass
class Rendered:
    """A rendered scene: RGB image, per-pixel object index (0 = none) and full object areas."""

    image: np.ndarray
    instance_map: np.ndarray
    full_areas: np.ndarray = field(repr=False)


@dataclass
class LabelledSample:
    image: np.ndarray
    instance_map: np.ndarray
    semantic_map: np.ndarray
    instance_labels: dict[int, int]


# --------------------------------------------------------------------------- scene sampling
def _jitter_color(rng: np.random.Generator, color: Color, gain: tuple[float, float],
                  offset: float) -> Color:
    rgb = np.asarray(color, np.float64) * rng.uniform(*gain) + rng.normal(0.0, offset, 3)
    return tuple(int(v) for v in np.clip(rgb, 0, 255))


def _hsv_color(hue: float, saturation: float, value: float) -> Color:
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def _instance_colors(rng: np.random.Generator, spec: ClassSpec,
                     class_colours: bool) -> tuple[Color, Color]:
    """Body and pattern colour of one object.

    With ``class_colours`` the class's own pair, slightly jittered; otherwise a random
    saturated body colour and a pattern colour of contrasting brightness (a related or
    opposite hue), so that colour says nothing about the class.
    """
    if class_colours:
        return (_jitter_color(rng, spec.color, (0.88, 1.08), 8),
                _jitter_color(rng, spec.pattern_color, (0.9, 1.05), 8))
    hue = rng.uniform(0.0, 1.0)
    body = _hsv_color(hue, rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9))
    pattern_hue = hue + (0.5 if rng.random() < 0.5 else 0.0) + rng.normal(0.0, 0.05)
    if rng.random() < 0.5:  # light pattern on the body
        pattern = _hsv_color(pattern_hue, rng.uniform(0.05, 0.4), rng.uniform(0.88, 1.0))
    else:  # dark pattern
        pattern = _hsv_color(pattern_hue, rng.uniform(0.4, 0.9), rng.uniform(0.08, 0.3))
    return body, pattern


def _depth_scale(y: float, horizon_y: float, height: int) -> float:
    """Perspective: objects near the horizon are a third the size of those at the bottom."""
    return 0.35 + 0.9 * float(np.clip((y - horizon_y) / max(height - horizon_y, 1.0), 0, 1.2))


def _sample_ground_point(rng: np.random.Generator, width: int, height: int,
                         horizon_y: float) -> tuple[float, float]:
    x = rng.uniform(-0.05, 1.05) * width
    y = rng.uniform(horizon_y + 0.02 * height, 1.04 * height)
    return x, y


def sample_scene(rng: np.random.Generator, width: int, height: int, min_objects: int = 6,
                 max_objects: int = 14, num_clutter: tuple[int, int] = (3, 8),
                 class_colours: bool = False) -> Scene:
    """Draw the layout of one scene: background parameters and objects back to front.

    The first ``min(n, num_classes)`` objects get distinct classes, so a scene with enough
    objects always contains several classes. Objects get random colours unless
    ``class_colours`` (see :func:`_instance_colors`).
    """
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f'need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}')
    size = min(width, height)
    horizon = rng.uniform(0.22, 0.4)
    horizon_y = horizon * height
    hills = tuple((rng.uniform(0.01, 0.05), rng.uniform(0.5, 3.0), rng.uniform(0, 2 * math.pi))
                  for _ in range(2))
    sky_top = _jitter_color(rng, (50, 110, 200), (0.85, 1.1), 10)
    sky_bottom = _jitter_color(rng, (200, 220, 235), (0.92, 1.05), 6)
    ground_base = [(95, 125, 60), (150, 130, 90), (120, 110, 80), (85, 110, 70)]
    ground = ground_base[int(rng.integers(len(ground_base)))]
    ground_far = _jitter_color(rng, tuple(int(0.6 * c + 0.4 * 190) for c in ground), (0.9, 1.1), 6)
    ground_near = _jitter_color(rng, tuple(int(0.75 * c) for c in ground), (0.85, 1.1), 6)
    sun = None
    if rng.random() < 0.5:
        sun = (rng.uniform(0.1, 0.9) * width, rng.uniform(0.15, 0.7) * horizon_y,
               rng.uniform(0.03, 0.06) * size)
    clouds = tuple((rng.uniform(0, 1) * width, rng.uniform(0.1, 0.8) * horizon_y,
                    rng.uniform(0.08, 0.2) * size, rng.uniform(0.03, 0.06) * size)
                   for _ in range(int(rng.integers(0, 4))))

    num_objects = int(rng.integers(min_objects, max_objects + 1))
    num_classes = len(CLASSES)
    distinct = rng.permutation(num_classes)[:min(num_objects, num_classes)]
    extra = rng.integers(0, num_classes, num_objects - len(distinct))
    class_ids = np.concatenate([distinct, extra]).astype(int)

    objects = []
    for class_id in class_ids:
        spec = CLASSES[class_id]
        x, y = _sample_ground_point(rng, width, height, horizon_y)
        radius = size * rng.uniform(0.065, 0.11) * _depth_scale(y, horizon_y, height)
        aspect = rng.uniform(0.45, 0.65) if spec.shape == 'ellipse' else rng.uniform(0.9, 1.1)
        color, pattern_color = _instance_colors(rng, spec, class_colours)
        objects.append(SceneObject(
            label=int(class_id) + 1, shape=spec.shape, texture=spec.texture,
            center=(x, y), radius=radius, aspect=aspect,
            angle=rng.uniform(0, 2 * math.pi),
            color=color,
            pattern_color=pattern_color,
            period=max(5.0, radius * rng.uniform(0.45, 0.65)),
            phase=rng.uniform(0, 20)))
    for _ in range(int(rng.integers(num_clutter[0], num_clutter[1] + 1))):
        x, y = _sample_ground_point(rng, width, height, horizon_y)
        scale = _depth_scale(y, horizon_y, height)
        if rng.random() < 0.5:
            shape, color, aspect = 'rock', (125, 120, 112), rng.uniform(0.5, 0.75)
            radius = size * rng.uniform(0.04, 0.09) * scale
        else:
            shape, color, aspect = 'bush', (70, 100, 45), rng.uniform(0.6, 0.9)
            radius = size * rng.uniform(0.05, 0.1) * scale
        vertices = 12 if shape == 'rock' else 18
        spread = 0.15 if shape == 'rock' else 0.3
        color = _jitter_color(rng, color, (0.8, 1.15), 10)
        objects.append(SceneObject(
            label=0, shape=shape, texture='speckle', center=(x, y), radius=radius,
            aspect=aspect, angle=rng.uniform(-0.3, 0.3), color=color,
            pattern_color=tuple(int(0.6 * c) for c in color), period=5.0, phase=0.0,
            outline_jitter=tuple(rng.uniform(1 - spread, 1 + spread, vertices).tolist())))
    # Painter's order: whatever stands lower in the picture is nearer and drawn later.
    objects.sort(key=lambda obj: obj.center[1] + obj.radius * obj.aspect)
    return Scene(width=width, height=height, horizon=horizon, hills=hills, sky_top=sky_top,
                 sky_bottom=sky_bottom, ground_far=ground_far, ground_near=ground_near, sun=sun,
                 clouds=clouds, objects=tuple(objects),
                 noise_seed=int(rng.integers(0, 2**31 - 1)))


# --------------------------------------------------------------------------- geometry
def _circle(num: int, radius: float = 1.0, start: float = 0.0) -> np.ndarray:
    t = start + np.arange(num) * (2 * math.pi / num)
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def _unit_outlines(obj: SceneObject) -> list[np.ndarray]:
    """The object's outline(s) in its own frame, radius ~1, y pointing down."""
    shape = obj.shape
    if shape in ('disc', 'ellipse'):
        return [_circle(40)]
    if shape == 'ring':
        return [_circle(40), _circle(40, 0.55)]  # even-odd filling leaves the hole
    if shape == 'square':
        return [np.array([[-0.85, -0.85], [0.85, -0.85], [0.85, 0.85], [-0.85, 0.85]])]
    if shape == 'triangle':
        return [_circle(3, 1.15, -math.pi / 2)]
    if shape == 'hexagon':
        return [_circle(6)]
    if shape == 'star':
        points = _circle(10, 1.0, -math.pi / 2)
        points[1::2] *= 0.45
        return [points * 1.15]
    if shape == 'cross':
        a, b = 0.33, 1.0
        return [np.array([[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b],
                          [-a, b], [-a, a], [-b, a], [-b, -a], [-a, -a]])]
    if shape in ('rock', 'bush'):
        jitter = np.asarray(obj.outline_jitter)[:, None]
        points = _circle(len(jitter), 1.0) * jitter
        if shape == 'rock':  # flat bottom: rocks rest on the ground
            points[:, 1] = np.minimum(points[:, 1], 0.6)
        return [points]
    raise ValueError(f'unknown shape {shape!r}')


def object_outlines(obj: SceneObject) -> list[np.ndarray]:
    """Outline polygons of ``obj`` in image pixel coordinates (x, y)."""
    cos, sin = math.cos(obj.angle), math.sin(obj.angle)
    rotation = np.array([[cos, sin], [-sin, cos]])  # row vectors: p @ R = rotate by angle
    scale = np.array([obj.radius, obj.radius * obj.aspect])
    return [(points * scale) @ rotation + np.asarray(obj.center) for points in _unit_outlines(obj)]


def _fill_mask(polygons: Sequence[np.ndarray], origin: tuple[int, int],
               shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    pts = [np.round((p - origin) * (1 << _SHIFT)).astype(np.int32) for p in polygons]
    cv2.fillPoly(mask, pts, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return mask.view(bool)


# --------------------------------------------------------------------------- rendering
def _texture(obj: SceneObject, u: np.ndarray, v: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """Boolean pattern (True = pattern colour) in the object's own frame (u, v in pixels)."""
    p, ph = obj.period, obj.phase
    if obj.texture == 'stripes':
        return np.floor((u + ph) / (p / 2)) % 2 == 0
    if obj.texture == 'checker':
        return (np.floor((u + ph) / p) + np.floor((v + ph) / p)) % 2 == 0
    if obj.texture == 'dots':
        du = (u + ph) % p - p / 2
        dv = (v + ph) % p - p / 2
        return du * du + dv * dv < (0.28 * p) ** 2
    if obj.texture == 'rings':
        return np.floor(np.hypot(u, v / obj.aspect) / (p / 2)) % 2 == 0
    if obj.texture == 'waves':
        bent = v + 0.3 * p * np.sin(u * (2 * math.pi / (1.5 * p)))
        return np.floor((bent + ph) / (p / 2)) % 2 == 0
    if obj.texture == 'speckle':
        return rng.random(u.shape) < 0.15
    raise ValueError(f'unknown texture {obj.texture!r}')


def _render_background(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    h, w = scene.height, scene.width
    size = min(h, w)
    xs = np.arange(w, dtype=np.float32)
    horizon = np.full(w, scene.horizon, np.float32)
    for amplitude, frequency, phase in scene.hills:
        horizon += amplitude * np.sin(xs / w * 2 * math.pi * frequency + phase)
    horizon_y = horizon * h
    # Sky and ground are computed on the row bands they can occupy only (speed).
    sky_rows = int(min(math.ceil(horizon_y.max()) + 1, h))
    ground_top = int(max(math.floor(horizon_y.min()), 0))
    image = np.empty((h, w, 3), np.float32)

    ys = np.arange(sky_rows, dtype=np.float32)[:, None]
    sky_t = np.clip(ys / np.maximum(horizon_y, 1), 0, 1)[..., None]
    sky = (1 - sky_t) * np.float32(scene.sky_top) + sky_t * np.float32(scene.sky_bottom)
    if scene.sun is not None:
        sx, sy, sr = scene.sun
        dist = np.hypot(xs[None, :] - sx, ys - sy) / sr
        glow = np.clip(1.2 - dist, 0, 1) + 0.35 * np.exp(-0.5 * (dist / 3) ** 2)
        glow = np.minimum(glow, 1)[..., None]
        sky = sky * (1 - glow) + glow * np.float32((255, 245, 200))
    if scene.clouds:
        small = (max(sky_rows // 4, 1), max(w // 4, 1))
        cloud = np.zeros(small, np.float32)
        for cx, cy, rx, ry in scene.clouds:
            for k in range(3):  # a few overlapping puffs
                offset = (k - 1) * rx * 0.5
                cv2.ellipse(cloud, (int((cx + offset) / 4), int((cy - (k % 2) * ry * 0.5) / 4)),
                            (max(int(rx * (0.6 if k != 1 else 0.8) / 4), 1), max(int(ry / 4), 1)),
                            0, 0, 360, 0.85, -1)
        cloud = cv2.GaussianBlur(cloud, (0, 0), max(size / 120, 0.8))
        cloud = cv2.resize(cloud, (w, sky_rows), interpolation=cv2.INTER_LINEAR)[..., None]
        sky = sky * (1 - cloud) + cloud * np.float32((248, 248, 250))
    image[:sky_rows] = sky

    ys = np.arange(ground_top, h, dtype=np.float32)[:, None]
    ground_t = np.clip((ys - horizon_y) / np.maximum(h - horizon_y, 1), 0, 1)
    ground = ((1 - ground_t[..., None]) * np.float32(scene.ground_far)
              + ground_t[..., None] * np.float32(scene.ground_near))
    # Ground texture: large blotches plus fine grain, stronger in front (nearer).
    rows = h - ground_top
    coarse = cv2.resize(rng.standard_normal((rows // 16 + 2, w // 16 + 2), np.float32),
                        (w, rows), interpolation=cv2.INTER_CUBIC)
    fine = rng.standard_normal((rows, w), np.float32)
    ground *= (1 + (0.1 * coarse + 0.05 * fine) * (0.4 + ground_t))[..., None]
    is_ground = (ys >= horizon_y[None, :])[..., None]
    band = image[ground_top:sky_rows]
    image[ground_top:sky_rows] = np.where(is_ground[:sky_rows - ground_top],
                                          ground[:sky_rows - ground_top], band)
    image[sky_rows:] = ground[sky_rows - ground_top:]

    # Grass strokes: short, mostly vertical, longer near the viewer.
    horizon_mean = float(horizon_y.mean())
    for _ in range(int(0.0012 * h * w)):
        x, y = rng.uniform(0, w), rng.uniform(horizon_mean, h)
        length = 2 + 0.04 * size * (y - horizon_mean) / max(h - horizon_mean, 1)
        tilt = rng.uniform(-0.4, 0.4)
        shade = float(rng.uniform(0.65, 1.3))
        color = tuple(float(c) * shade for c in scene.ground_near)
        cv2.line(image, (int(x), int(y)), (int(x + tilt * length), int(y - length)), color, 1,
                 cv2.LINE_AA)
    return image


def _draw_shadow(image: np.ndarray, obj: SceneObject, bounds: np.ndarray) -> None:
    """A soft dark ellipse on the ground under the object: light comes from above."""
    h, w = image.shape[:2]
    (x0, _), (x1, y1) = bounds
    cx = 0.5 * (x0 + x1) + 0.15 * obj.radius
    rx, ry = 0.5 * (x1 - x0) * 0.9 + 1, 0.22 * obj.radius + 1
    sigma = max(0.15 * obj.radius, 0.8)
    pad = 3 * sigma
    left, top = int(max(cx - rx - pad, 0)), int(max(y1 - ry - pad, 0))
    right, bottom = int(min(cx + rx + pad, w)), int(min(y1 + ry + pad, h))
    if right <= left or bottom <= top:
        return
    alpha = np.zeros((bottom - top, right - left), np.float32)
    cv2.ellipse(alpha, ((cx - left, y1 - top), (2 * rx, 2 * ry), 0), 0.5, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
    image[top:bottom, left:right] *= (1 - alpha)[..., None]


def _draw_object(image: np.ndarray, instance_map: np.ndarray, obj: SceneObject,
                 instance_id: int, rng: np.random.Generator) -> int:
    """Paint ``obj`` over ``image`` and ``instance_map``; return its area inside the image."""
    h, w = instance_map.shape
    polygons = object_outlines(obj)
    stacked = np.concatenate(polygons)
    bounds = np.stack([stacked.min(0), stacked.max(0)])
    if obj.shadow:
        _draw_shadow(image, obj, bounds)
    left, top = (int(max(math.floor(v), 0)) for v in bounds[0])
    right = int(min(math.ceil(bounds[1, 0]) + 1, w))
    bottom = int(min(math.ceil(bounds[1, 1]) + 1, h))
    if right <= left or bottom <= top:
        return 0
    mask = _fill_mask(polygons, (left, top), (bottom - top, right - left))
    if not mask.any():
        return 0
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
    dx, dy = xs - obj.center[0], ys - obj.center[1]
    cos, sin = math.cos(obj.angle), math.sin(obj.angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # back into the object's frame
    pattern = _texture(obj, u, v, rng)
    colors = np.where(pattern[..., None], np.float32(obj.pattern_color), np.float32(obj.color))
    # Lit from above: bright top, darker bottom, whatever the object's own rotation.
    height_t = (ys - bounds[0, 1]) / max(bounds[1, 1] - bounds[0, 1], 1.0)
    colors *= (1.18 - 0.4 * height_t)[..., None]
    region = image[top:bottom, left:right]
    region[mask] = colors[mask]
    instance_map[top:bottom, left:right][mask] = instance_id
    return int(mask.sum())


def render_scene(scene: Scene) -> Rendered:
    """Render ``scene`` to an RGB uint8 image and a map of object indices.

    ``instance_map[y, x] = i + 1`` where ``scene.objects[i]`` is the visible labelled object
    at that pixel, 0 for background and clutter. ``full_areas[i]`` is the in-image area
    object ``i`` would have without occlusion.
    """
    rng = np.random.default_rng(scene.noise_seed)
    image = _render_background(scene, rng)
    instance_map = np.zeros((scene.height, scene.width), np.int32)
    full_areas = np.zeros(len(scene.objects), np.int64)
    for index, obj in enumerate(scene.objects):
        instance_id = index + 1 if obj.label > 0 else 0
        full_areas[index] = _draw_object(image, instance_map, obj, instance_id, rng)
    image += 2.5 * rng.standard_normal(image.shape, np.float32)
    image = cv2.GaussianBlur(image, (3, 3), 0.5)
    return Rendered(np.clip(image + 0.5, 0, 255).astype(np.uint8), instance_map, full_areas)


# --------------------------------------------------------------------------- annotations
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


def _compress_rle_counts(counts: Sequence[int]) -> str:
    """COCO's compressed RLE string: run lengths (deltas after the second) in 5-bit chunks."""
    chars = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            chunk = x & 0x1F
            x >>= 5
            more = x != -1 if chunk & 0x10 else x != 0
            if more:
                chunk |= 0x20
            chars.append(chr(chunk + 48))
    return ''.join(chars)


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of a binary mask (column-major runs, starting with zeros)."""
    height, width = mask.shape
    flat = np.asarray(mask, bool).ravel(order='F')
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]]))
    if flat.size and flat[0]:
        runs = np.concatenate([[0], runs])
    return {'size': [int(height), int(width)], 'counts': _compress_rle_counts(runs.tolist())}


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


# --------------------------------------------------------------------------- samples
def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Independent stream per image: image i does not depend on how many others there are."""
    return np.random.default_rng([seed, SPLIT_STREAMS[split], index])


def make_labelled_sample(rng: np.random.Generator, width: int, height: int, min_objects: int,
                         max_objects: int, min_classes: int = 3,
                         max_tries: int = 20, class_colours: bool = False) -> LabelledSample:
    """Render scenes until one shows at least ``min_classes`` classes after occlusion."""
    wanted = min(min_classes, min_objects, len(CLASSES))
    min_area = default_min_area(width, height)
    best = None
    for _ in range(max_tries):
        scene = sample_scene(rng, width, height, min_objects, max_objects,
                             class_colours=class_colours)
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
                        max_objects: int, class_colours: bool = False) -> np.ndarray:
    return render_scene(sample_scene(rng, width, height, min_objects, max_objects,
                                     class_colours=class_colours)).image


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

    def to_json(self) -> dict:
        return {'version': GENERATOR_VERSION, 'seed': self.seed,
                'image_size': [self.width, self.height], 'num_pretrain': self.num_pretrain,
                'num_train': self.num_train, 'num_val': self.num_val,
                'min_objects': self.min_objects, 'max_objects': self.max_objects,
                'class_colours': self.class_colours}


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
                                          class_colours=config.class_colours)


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
                                    class_colours=config.class_colours)
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


# --------------------------------------------------------------------------- CLI
def parse_image_size(text: str) -> tuple[int, int]:
    """``'256'`` -> (256, 256); ``'320x240'`` -> (width 320, height 240)."""
    parts = text.lower().split('x')
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 32:
        raise argparse.ArgumentTypeError(f'expected N or WxH with sides >= 32, got {text!r}')
    return (values[0], values[-1])


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected a non-negative integer, got {text!r}')
    return value


def build_parser() -> argparse.ArgumentParser:
    defaults = GeneratorConfig()
    parser = argparse.ArgumentParser(
        description='Generate the deterministic synthetic scene data of the gtsa-mm demo: '
                    'unlabelled pretraining images, COCO instances and ADE20K-style '
                    'semantic labels of the same scenes.')
    parser.add_argument('--out', default=DEFAULT_OUT, help='output root (default: %(default)s)')
    parser.add_argument('--seed', type=_non_negative, default=defaults.seed,
                        help='random seed (default: %(default)s)')
    parser.add_argument('--num-pretrain', type=_non_negative, default=defaults.num_pretrain,
                        help='unlabelled pretraining images (default: %(default)s)')
    parser.add_argument('--num-train', type=_non_negative, default=defaults.num_train,
                        help='labelled training images (default: %(default)s)')
    parser.add_argument('--num-val', type=_non_negative, default=defaults.num_val,
                        help='labelled validation images (default: %(default)s)')
    parser.add_argument('--image-size', type=parse_image_size,
                        default=(defaults.width, defaults.height), metavar='N|WxH',
                        help='image size, one int for square images (default: 256)')
    parser.add_argument('--min-objects', type=int, default=defaults.min_objects,
                        help='fewest labelled objects drawn per scene (default: %(default)s)')
    parser.add_argument('--max-objects', type=int, default=defaults.max_objects,
                        help='most labelled objects drawn per scene (default: %(default)s)')
    parser.add_argument('--class-colours', action='store_true',
                        help='fixed colours per class (default: random colours per object, so '
                             'only shape and texture tell the classes apart)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the output is up to date, and overwrite a '
                             'folder that this tool did not write')
    parser.add_argument('--quiet', action='store_true', help='no progress bar or summary')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.min_objects <= args.max_objects:
        parser.error('need 1 <= --min-objects <= --max-objects')
    width, height = args.image_size
    config = GeneratorConfig(seed=args.seed, width=width, height=height,
                             num_pretrain=args.num_pretrain, num_train=args.num_train,
                             num_val=args.num_val, min_objects=args.min_objects,
                             max_objects=args.max_objects, class_colours=args.class_colours)
    out = Path(args.out)
    if not args.force and is_up_to_date(out, config):
        if not args.quiet:
            print(f'{out} is up to date (seed {config.seed}, {width}x{height}); '
                  'use --force to regenerate')
        return 0
    if not args.force and out.is_dir() and any(out.iterdir()) and read_meta(out) is None:
        if any((out / entry).exists() for entry in OWNED_ENTRIES):
            parser.error(f'{out} holds data this tool did not write; pass --force to replace '
                         f'its {", ".join(OWNED_ENTRIES)}')
    start = time.perf_counter()
    meta = generate(out, config, quiet=args.quiet)
    seconds = time.perf_counter() - start
    total = config.num_pretrain + config.num_train + config.num_val
    if not args.quiet:
        instances = meta['num_instances']
        print(f'wrote {total} images of {width}x{height} to {out} '
              f'({instances["train"]} train / {instances["val"]} val instances) in '
              f'{seconds:.1f} s ({1000 * seconds / max(total, 1):.1f} ms/image)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
