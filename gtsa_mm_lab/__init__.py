"""gtsa_mm_lab: the repository's lab tooling around :mod:`gtsa_mm` (not shipped in the wheel).

- :mod:`gtsa_mm_lab.demo`: the demo pipeline (``tools/demo.py``) and the comparison studies
  (``tools/compare.py``, ``tools/study_gpu.sh``);
- :mod:`gtsa_mm_lab.demo_data`: the synthetic scene generator (``tools/make_demo_data.py``);
- :mod:`gtsa_mm_lab.benchmark`: the training-step and data-pipeline benchmark
  (``tools/benchmark.py``).

The tools put the repository root on ``sys.path``; the tests do so through pytest's
``pythonpath``. Configs and scripts are found relative to the repository
(``gtsa_mm_lab.demo.jobs.REPO``).
"""
