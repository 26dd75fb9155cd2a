"""The synthetic, non-object-centric scene data of the demo (``tools/make_demo_data.py``).

Outdoor-like scenes (sky, wavy horizon, textured ground, clutter) with objects of eight
classes that differ by shape and texture only, drawn with perspective, lighting and
shadows; written as unlabelled pretraining images, COCO instances and ADE20K-style label
maps of the same scenes (docs/demo_data.md).
"""
from .annotations import (
                          coco_annotations,
                          coco_categories,
                          default_min_area,
                          drop_tiny_instances,
                          encode_rle,
                          semantic_map,
)
from .dataset import (
                          ADE_SPLIT_NAMES,
                          DEFAULT_OUT,
                          GENERATOR_NAME,
                          GENERATOR_VERSION,
                          JPEG_QUALITY,
                          META_FILE,
                          OWNED_ENTRIES,
                          SPLIT_STREAMS,
                          GeneratorConfig,
                          LabelledSample,
                          encode_jpeg,
                          encode_png,
                          expected_files,
                          generate,
                          image_name,
                          is_up_to_date,
                          make_labelled_sample,
                          make_pretrain_image,
                          read_meta,
                          scene_rng,
)
from .render import Rendered, object_outlines, render_scene
from .scenes import CLASS_NAMES, CLASSES, PALETTE, ClassSpec, Scene, SceneObject, sample_scene

__all__ = [
    'ADE_SPLIT_NAMES', 'CLASSES', 'CLASS_NAMES', 'DEFAULT_OUT', 'GENERATOR_NAME',
    'GENERATOR_VERSION', 'JPEG_QUALITY', 'META_FILE', 'OWNED_ENTRIES', 'PALETTE',
    'SPLIT_STREAMS', 'ClassSpec', 'GeneratorConfig', 'LabelledSample', 'Rendered', 'Scene',
    'SceneObject', 'coco_annotations', 'coco_categories', 'default_min_area',
    'drop_tiny_instances', 'encode_jpeg', 'encode_png', 'encode_rle', 'expected_files',
    'generate', 'image_name', 'is_up_to_date', 'make_labelled_sample', 'make_pretrain_image',
    'object_outlines', 'read_meta', 'render_scene', 'sample_scene', 'scene_rng', 'semantic_map',
]
