#!/usr/bin/env python
"""Time GTSA's training step against its bare network, and the data pipeline feeding it.

    python tools/benchmark.py --device cpu --batch-size 4
    python tools/benchmark.py --device cuda --batch-size 64 --amp-dtype bfloat16
    python tools/benchmark.py --pipeline-only --step-images-per-s 1088   # workers for a GPU
    torchrun --nproc-per-node 1 tools/benchmark.py --device cuda --ddp --compile layers

``--help`` says what is measured; the library code is ``gtsa_mm_lab.benchmark`` (``cli``,
``train_step``, ``pipeline``, ``flops``) and this file is its command line. The last line
of output is one JSON object.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's gtsa_mm_lab

from gtsa_mm_lab.benchmark.cli import main  # noqa: E402

if __name__ == '__main__':
    main()
