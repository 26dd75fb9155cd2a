"""Measurements behind ``tools/benchmark.py``: the data pipeline per CPU core and the
model's FLOPs per image."""
from .flops import PEAK_TFLOPS, count_flops, matmul_dtype, peak_tflops  # noqa: F401
from .pipeline import (  # noqa: F401
                       PipelineTiming,
                       synthetic_photo,
                       time_pipeline,
                       workers_needed,
                       write_synthetic_jpegs,
)
