#!/usr/bin/env python
"""Where a trained Mask R-CNN fails on the validation images: the RPN's average recall at
100 proposals, the RoI classifier's accuracy on the ground-truth boxes, and the per-level
statistics of the backbone's and the neck's feature maps, as Markdown tables.

    python tools/diagnose_detector.py configs/mmdet/mask-rcnn_r18_fpn_1xb4-8e_demo.py \
        work_dirs/mask-rcnn_r18_fpn_1xb4-8e_demo/epoch_8.pth --json out.json

The library code is ``gtsa_mm_lab.demo.detection_diagnosis``; this file is its command line.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's gtsa_mm_lab

from gtsa_mm_lab.demo.detection_diagnosis import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
