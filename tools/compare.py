#!/usr/bin/env python
"""GTSA vs. its ablations vs. DINO, at equal budget, on the bundled demo data.

    python tools/compare.py                     # the demo config's epochs for each method
    python tools/compare.py --epochs 10
    python tools/compare.py --quick             # 2 epochs on 64 images: a smoke run

Every method is pretrained by ``tools/train.py`` (one subprocess each) from the demo
pretraining configs (``configs/{gtsa,dino}/*_demo.py``: same ViT, crops, data,
optimiser, schedule, epochs, seed); only the method differs:

==================  =========================================================
``gtsa``            the full method
``no_rotation``     ``model.head.rotation_head=None`` (no rotation-prediction loss)
``no_patch``        ``model.head.patch_loss=None`` (no patch-correspondence loss)
``no_rotate_target``  ``RegionLoss(rotate_target=False)``: teacher region not turned
``global_target``   ``model.head.target='global'``: pooled maps instead of shared regions
``dino``            ``configs/dino/dino_vit-tiny-p8_1xb32-coslr-24e_demo.py``
==================  =========================================================

Then ``tools/evaluate_features.py`` probes each last checkpoint and a randomly
initialised backbone; the tool prints one Markdown table and writes
``results.json``, ``results.md`` and ``results.png`` under ``--work-dir``.

    python tools/compare.py --finetune --methods gtsa dino --seeds 0 1 2 --resume
    python tools/compare.py --preset gpu-vit-s16       # or: bash tools/study_gpu.sh

``--finetune`` fine-tunes the same pretrainings (UperNet with all and with 1/8 of the
labels, Mask R-CNN with ``--det``) against random init, pretraining seed s -> fine-tune
seed s, and writes ``finetune.{json,md,png}``; ``--preset gpu-vit-s16`` is the one-GPU
study of GTSA vs. DINO at ViT-S/16 for equal wall-clock time (docs/comparison.md).
The library code is ``gtsa_mm_lab.demo.comparison``; this file is its command line.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's gtsa_mm_lab

from gtsa_mm_lab.demo.comparison import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
