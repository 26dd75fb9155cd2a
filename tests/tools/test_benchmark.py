"""tools/benchmark.py runs end to end at a tiny size (smoke only, no timing assertion)."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_smoke_prints_json_last():
    out = subprocess.run(
        [sys.executable, str(REPO / 'tools/benchmark.py'), '--device', 'cpu', '--arch', 'tiny',
         '--batch-size', '2', '--iters', '2', '--warmup', '1', '--data-images', '3'],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ('gtsa_step_s', 'network_step_s', 'data_ms_per_img', 'images_per_s'):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result['peak_mem_gib'] is None
    assert result['optimizer'] == 'fused'
    # the one left is MMEngine's OptimWrapper logging float(grad_norm)
    assert result['host_syncs_per_step'] == 1


def test_benchmark_help():
    out = subprocess.run([sys.executable, str(REPO / 'tools/benchmark.py'), '--help'],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and '--amp-dtype' in out.stdout
