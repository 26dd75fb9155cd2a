"""The demo of ``make demo`` / ``tools/demo.py`` (docs/demo.md): GTSA pretraining on the
generated scenes, then Mask R-CNN, UperNet and label-scarce UperNet fine-tunes from the GTSA
backbone and from random initialisation over several seeds, frozen-backbone probes, a
results table with spreads, and pictures.

- :mod:`.stages`: the stage configs (the demo configs with data roots, seeds, inits);
- :mod:`.schedules`: the pretraining schedule for another epoch count than the configs';
- :mod:`.jobs`: stages as ``tools/train.py`` subprocesses, a few at a time;
- :mod:`.results`: metrics from the stages' logs, probes, tables;
- :mod:`.figures`: the pictures;
- :mod:`.cli`: the command line;
- :mod:`.comparison`: ``tools/compare.py``, GTSA vs. its ablations vs. DINO at one budget;
- :mod:`.finetune_comparison`: ``tools/compare.py --finetune``, the same pretrainings
  fine-tuned (UperNet, all and 1/8 of the labels) against random init, paired by seed;
- :mod:`.gpu_study`: ``tools/study_gpu.sh``, GTSA vs. DINO at ViT-S/16 for equal
  wall-clock time on one GPU, then the frozen probes.
"""
from .cli import main

__all__ = ['main']
