"""The whole pipeline on the bundled demo data, on a CPU: GTSA pretraining, then Mask R-CNN
(MMDetection) and UperNet (MMSegmentation) fine-tuning and evaluation, from the GTSA
backbone and from random initialisation.

    python tools/demo.py                 # the demo of docs/demo.md (``make demo``)
    python tools/demo.py --quick         # tiny counts, one epoch: a smoke run (CI)
    python tools/demo.py --pretrained work_dirs/demo/pretrain/epoch_24.pth   # skip stage 1

Stages, each one ``tools/train.py`` process (MMEngine's Runner) with its config and log in
``<work-dir>/<stage>/`` (``config.py``, ``train.log``):

    pretrain                configs/gtsa/gtsa_vit-tiny-p8_1xb32-coslr-24e_demo.py
    det_<init>/seed<s>      configs/mmdet/mask-rcnn_vit-tiny-p8-gtsa_fpn_1xb4-4e_demo.py
    seg_<init>/seed<s>      configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-600i_demo-128x128.py
    seg_low_label_<init>/seed<s>
                            configs/mmseg/upernet_vit-tiny-p8-gtsa_1xb4-300i_demo-128x128-1of8.py

for ``<init>`` gtsa (the pretrained backbone) and scratch (random init) and each seed.
The demo data (``gtsa_mm_lab.demo_data``) is generated first when ``--data-root`` lacks it.
The library code is ``gtsa_mm_lab.demo``; this file is its command line.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's gtsa_mm_lab

from gtsa_mm_lab.demo import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
