"""tools/benchmark.py runs end to end at a tiny size (smoke only, no timing assertion).

The figures are measured, so they depend on the machine and its load: the tests check their
types, signs and the relations between them, never their size.
"""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from gtsa_test_utils import TOOL_TIMEOUT_S

from gtsa_mm_lab.benchmark.cli import significant

REPO = Path(__file__).resolve().parents[2]
PIPELINE_STAGES = {'LoadImageFromFile', 'GTSAMultiCrop', 'PackInputs', 'collate'}
#: Relative error that rounding to 4 significant digits can put between two related figures.
ROUNDING_RTOL = 2e-3


def run_benchmark(*args):
    out = subprocess.run([sys.executable, str(REPO / 'tools/benchmark.py'), *args],
                         capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                         cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_benchmark_smoke_prints_json_last():
    result = run_benchmark('--device', 'cpu', '--arch', 'tiny', '--batch-size', '2',
                           '--iters', '2', '--warmup', '1', '--pipeline-images', '3',
                           '--pipeline-repeats', '1')
    for key in ('gtsa_step_s', 'network_step_s', 'data_ms_per_img', 'images_per_s',
                'pipeline_ms_per_img', 'gflops_per_img', 'achieved_tflops', 'achieved_gflops'):
        assert isinstance(result[key], float) and result[key] > 0, key
    # the throughput figures describe the same step: images/s = batch / step time and
    # TFLOP/s = GFLOP per image x images/s / 1000, up to the rounding of each figure
    assert math.isclose(result['images_per_s'], 2 / result['gtsa_step_s'], rel_tol=ROUNDING_RTOL)
    assert math.isclose(result['achieved_tflops'],
                        result['gflops_per_img'] * result['images_per_s'] / 1000,
                        rel_tol=2 * ROUNDING_RTOL)
    assert math.isclose(result['achieved_gflops'], 1000 * result['achieved_tflops'],
                        rel_tol=ROUNDING_RTOL)
    assert result['peak_mem_gib'] is None
    assert result['optimizer'] == 'fused'
    # the one left is MMEngine's OptimWrapper logging float(grad_norm)
    assert result['host_syncs_per_step'] == 1
    assert set(result['pipeline_stage_ms']) == PIPELINE_STAGES
    assert result['step_images_per_s'] == result['images_per_s']
    assert result['workers_per_gpu_needed'] >= 1
    # no peak on a CPU
    assert result['peak_tflops'] is None and result['peak_fraction'] is None


def test_benchmark_pipeline_only_with_a_given_step_rate():
    result = run_benchmark('--pipeline-only', '--step-images-per-s', '1000',
                           '--pipeline-images', '3', '--pipeline-repeats', '1')
    assert set(result['pipeline_stage_ms']) == PIPELINE_STAGES
    assert result['pipeline_jpeg_kb'] > 100  # COCO-size files
    assert result['config_workers_per_gpu'] == 8  # the paper config's loader
    ms = result['pipeline_ms_per_img']
    assert result['workers_per_gpu_needed'] == -(-1000 * ms // 1000)


def test_benchmark_help():
    out = subprocess.run([sys.executable, str(REPO / 'tools/benchmark.py'), '--help'],
                         capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert out.returncode == 0 and '--amp-dtype' in out.stdout
    assert '--step-images-per-s' in out.stdout


def test_benchmark_ddp_times_the_runners_train_step():
    result = run_benchmark('--device', 'cpu', '--arch', 'tiny', '--batch-size', '2',
                           '--iters', '1', '--warmup', '1', '--pipeline-images', '2',
                           '--pipeline-repeats', '1', '--ddp')
    assert result['ddp'] == dict(world_size=1, static_graph=False)
    assert result['gtsa_step_s'] > 0 and result['network_step_s'] is None
    assert result['gflops_per_img'] > 0


@pytest.mark.parametrize('value, expected', [
    (0.000123456, 0.0001235), (0.0004, 0.0004), (58.753061, 58.75), (1088.24, 1088.0),
    (151.9449, 151.9), (-0.012345, -0.01235), (0.0, 0.0), (None, None)])
def test_significant_keeps_four_digits_and_never_rounds_to_zero(value, expected):
    assert significant(value) == expected
    if value:  # a measured figure, however small, stays non-zero
        assert significant(value * 1e-9) != 0
