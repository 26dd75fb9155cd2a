#!/usr/bin/env python
"""DenseProbeHook curves of pretraining runs: a Markdown table at chosen epochs and a plot.

    python tools/probe_curves.py work_dirs/collapse96/gtsa work_dirs/collapse96/dino \
        --labels GTSA DINO --epochs 0 24 48 96 --out docs/images/probe_curves.png

The library code is ``gtsa_mm_lab.demo.probe_curves``; this file is its command line.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's gtsa_mm_lab

from gtsa_mm_lab.demo.probe_curves import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
