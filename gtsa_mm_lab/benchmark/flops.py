"""Model FLOPs with ``torch.utils.flop_counter`` and the dense peak of the GPU.

FLOPs are those of matrix products, convolutions and attention (what
``FlopCounterMode`` counts: 2 per multiply-add), forward and backward; element-wise
work (norms, activations, the optimizer) is not counted, as in the usual model FLOP
utilisation (MFU) figures.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

#: Dense (no sparsity) tensor-core peak in TFLOP/s of NVIDIA's data sheets, by the
#: dtype the matrix products run in; 'fp32' is the non-tensor-core rate (the
#: default for float32 matmuls in PyTorch, TF32 off). Keys are matched in order
#: against ``torch.cuda.get_device_name()``.
PEAK_TFLOPS = {
    'H200 NVL': dict(bf16=835.5, fp16=835.5, tf32=417.5, fp32=60.0),
    'H100 NVL': dict(bf16=835.5, fp16=835.5, tf32=417.5, fp32=60.0),
    'H100 PCIe': dict(bf16=756.5, fp16=756.5, tf32=378.0, fp32=51.2),
    'H200': dict(bf16=989.4, fp16=989.4, tf32=494.7, fp32=66.9),  # SXM
    'H100': dict(bf16=989.4, fp16=989.4, tf32=494.7, fp32=66.9),  # SXM (80GB HBM3)
}


def matmul_dtype(amp: str) -> str:
    """The dtype key of :data:`PEAK_TFLOPS` that matmuls run in under ``amp``."""
    if amp in ('bfloat16', 'float16'):
        return {'bfloat16': 'bf16', 'float16': 'fp16'}[amp]
    return 'tf32' if torch.backends.cuda.matmul.allow_tf32 else 'fp32'


def peak_tflops(device_name: str, dtype: str) -> float | None:
    """Dense peak TFLOP/s of ``device_name`` for ``dtype``; None if not tabulated."""
    for key, peaks in PEAK_TFLOPS.items():
        if key in device_name:
            return peaks.get(dtype)
    return None


# PyTorch's table has the CUDA attention kernels; on the CPU scaled_dot_product_attention
# runs this one, which it would otherwise count as 0.
def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args,
                            out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flop,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward:
        _cpu_sdpa_backward_flop,
}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of everything ``fn()`` dispatches (include its ``backward()``)."""
    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
        fn()
    return int(counter.get_total_flops())
