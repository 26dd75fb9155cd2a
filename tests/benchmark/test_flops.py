"""gtsa_mm_lab.benchmark.flops: FLOPs counted as 2 per multiply-add, CPU attention included."""
import pytest
import torch
import torch.nn.functional as F

from gtsa_mm_lab.benchmark import count_flops, matmul_dtype, peak_tflops


def test_linear_forward_and_backward_flops():
    x = torch.randn(8, 16, requires_grad=True)
    w = torch.randn(32, 16, requires_grad=True)
    assert count_flops(lambda: x @ w.t()) == 2 * 8 * 16 * 32
    # backward: gradients of x and w, one product each
    assert count_flops(lambda: (x @ w.t()).sum().backward()) == 3 * 2 * 8 * 16 * 32


def test_cpu_attention_is_counted_as_its_two_products():
    b, h, n, d = 2, 3, 10, 8
    q, k, v = (torch.randn(b, h, n, d) for _ in range(3))
    flops = count_flops(lambda: F.scaled_dot_product_attention(q, k, v))
    assert flops == 2 * (2 * b * h * n * n * d)  # q @ k^T and attn @ v


def test_peak_table_by_device_name_and_dtype():
    assert peak_tflops('NVIDIA H200', 'bf16') == pytest.approx(989.4)
    assert peak_tflops('NVIDIA H100 80GB HBM3', 'tf32') == pytest.approx(494.7)
    assert peak_tflops('NVIDIA H100 PCIe', 'bf16') == pytest.approx(756.5)
    assert peak_tflops('NVIDIA H200 NVL', 'fp16') == pytest.approx(835.5)
    assert peak_tflops('NVIDIA A100-SXM4-80GB', 'bf16') is None
    assert matmul_dtype('bfloat16') == 'bf16' and matmul_dtype('float16') == 'fp16'
    assert matmul_dtype('none') in ('fp32', 'tf32')
