"""Scene layouts of the demo data: eight object classes told apart by shape and texture,
and :func:`sample_scene`, which draws the background parameters and objects of one scene
back to front with perspective (farther objects are smaller and higher)."""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

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
                 class_colours: bool = False, object_scale: float = 1.0) -> Scene:
    """Draw the layout of one scene: background parameters and objects back to front.

    The first ``min(n, num_classes)`` objects get distinct classes, so a scene with enough
    objects always contains several classes. Objects get random colours unless
    ``class_colours`` (see :func:`_instance_colors`). ``object_scale`` multiplies the size of
    the labelled objects (clutter keeps its size).
    """
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f'need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}')
    if object_scale <= 0:
        raise ValueError(f'object_scale must be positive, got {object_scale}')
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
        radius = (size * rng.uniform(0.065, 0.11) * _depth_scale(y, horizon_y, height)
                  * object_scale)
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

