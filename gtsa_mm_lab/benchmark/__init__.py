"""Measurements behind ``tools/benchmark.py`` (:mod:`.cli`): the training step
(:mod:`.train_step`), the data pipeline per CPU core (:mod:`.pipeline`) and the model's
FLOPs per image (:mod:`.flops`)."""
from .flops import PEAK_TFLOPS, count_flops, matmul_dtype, peak_tflops  # noqa: F401
from .pipeline import (  # noqa: F401
                       PipelineTiming,
                       synthetic_photo,
                       time_pipeline,
                       workers_needed,
                       write_synthetic_jpegs,
)
