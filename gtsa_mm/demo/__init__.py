"""The demo of ``make demo`` / ``tools/demo.py`` (docs/demo.md): GTSA pretraining on the
generated scenes, then Mask R-CNN, UperNet and label-scarce UperNet fine-tunes from the GTSA
backbone and from random initialisation over several seeds, frozen-backbone probes, a
results table with spreads, and pictures.

- :mod:`.stages`: the stage configs (the demo configs with data roots, seeds, inits);
- :mod:`.jobs`: stages as ``tools/train.py`` subprocesses, a few at a time;
- :mod:`.results`: metrics from the stages' logs, probes, tables;
- :mod:`.figures`: the pictures;
- :mod:`.cli`: the command line.
"""
from .cli import main

__all__ = ['main']
