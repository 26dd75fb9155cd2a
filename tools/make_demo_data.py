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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's gtsa_mm_lab

from gtsa_mm_lab.demo_data.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
