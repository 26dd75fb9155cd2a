"""Rendering of a :class:`~gtsa_mm_lab.demo_data.scenes.Scene`: sky, hills, textured ground,
clutter, lit and shadowed objects, and the map of which labelled object each pixel shows."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .scenes import Scene, SceneObject

_SHIFT = 4  # sub-pixel bits for cv2 polygon filling


@dataclass
class Rendered:
    """A rendered scene: RGB image, per-pixel object index (0 = none) and full object areas."""

    image: np.ndarray
    instance_map: np.ndarray
    full_areas: np.ndarray = field(repr=False)


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

