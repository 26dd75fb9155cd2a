#!/usr/bin/env bash
# One GPU, a few minutes: the compiled-layer and CUDA-graph equality tests, then GTSA's step
# inside MMEngine's DDP wrapper (torchrun, world size 1) eager, with compiled layers, and with
# CUDA graphs (plain and static_graph DDP), beside the same step without DDP. Each row is one
# tools/benchmark.py process (--ddp: MMDistributedDataParallel.train_step, as the Runner runs
# it); its JSON line goes to $OUT/ddp_benchmarks.jsonl, its log to $OUT/ddp_rows.log, and a
# table and one JSON summary line are printed at the end.
#
#   bash tools/benchmark_ddp_gpu.sh
#   PY=python3 OUT=/tmp/gpu BATCH=64 bash tools/benchmark_ddp_gpu.sh
#
# On the lent machines (Python 3.12, torch preinstalled, no internet) carry the pure-Python
# wheels of docs/benchmarks.md and run with PYTHONPATH=.site:$PWD. Exit status: that of the
# CUDA tests (1 if they fail; the rows still run, so a failure can be seen next to timings).
set -u
PY=${PY:-python}
OUT=${OUT:-work_dirs/benchmark_ddp_gpu}
BATCH=${BATCH:-64}
ROW_TIMEOUT=${ROW_TIMEOUT:-170}
mkdir -p "$OUT"
: > "$OUT/ddp_benchmarks.jsonl"
: > "$OUT/ddp_rows.log"
NAME=benchmark_ddp_gpu
source "$(dirname "$0")/gpu_common.sh"
require_cuda

say "CUDA tests: compiled layers and CUDA graphs equal eager"
"$PY" -m pytest -q -p no:cacheprovider -rs tests/models/test_compile.py \
    tests/models/test_cuda_graphs.py 2>&1 | tail -15
tests_rc=${PIPESTATUS[0]}
say "tests rc=$tests_rc"

COMMON="--device cuda --batch-size $BATCH --warmup 4 --iters 20 --pipeline-images 8 --pipeline-repeats 1"
rows=(
    "--ddp"                                                       # what DDP users get today
    "--ddp --compile layers"
    "--ddp --compile layers --cuda-graphs"
    "--ddp --ddp-static-graph --compile layers --cuda-graphs"
    "--compile layers --cuda-graphs"                              # the same step without DDP
)
port=29533
for row in "${rows[@]}"; do
    port=$((port + 1))
    echo "=== $row" >> "$OUT/ddp_rows.log"
    if [[ $row == --ddp* ]]; then
        launch=("$PY" -m torch.distributed.run --nproc-per-node 1 --master-port "$port")
    else
        launch=("$PY")
    fi
    timeout "$ROW_TIMEOUT" "${launch[@]}" tools/benchmark.py $COMMON $row > "$OUT/row.log" 2>&1
    rc=$?
    cat "$OUT/row.log" >> "$OUT/ddp_rows.log"
    say "[$row] rc=$rc: $(grep -E '^GTSA step' "$OUT/row.log")"
    if [ $rc -eq 0 ]; then
        grep -E '^\{' "$OUT/row.log" | tail -1 >> "$OUT/ddp_benchmarks.jsonl"
    else
        grep -iE "error|Traceback" "$OUT/row.log" | tail -4
    fi
done
rm -f "$OUT/row.log"
"$PY" - "$OUT/ddp_benchmarks.jsonl" "$tests_rc" <<'PYEOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print('| DDP | static graph | compile | CUDA graphs | GTSA step | images/s | GFLOP/img | '
      'TFLOP/s | of peak | pipeline ms/img/core | workers/GPU | peak memory |')
print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for r in rows:
    ddp = r.get('ddp') or {}
    frac = r.get('peak_fraction')
    print(f"| {bool(ddp)} | {ddp.get('static_graph', '-')} | {r['compile']} | {r['cuda_graphs']} | "
          f"{r['gtsa_step_s'] * 1000:.1f} ms | {r['images_per_s']:.0f} | {r['gflops_per_img']} | "
          f"{r['achieved_tflops']:.1f} | {'-' if frac is None else f'{100 * frac:.1f} %'} | "
          f"{r['pipeline_ms_per_img']} | {r['workers_per_gpu_needed']} | {r['peak_mem_gib']} GiB |")
ddp_rows = [r for r in rows if r.get('ddp')]
best = max(ddp_rows, key=lambda r: r['images_per_s'], default=None)
print(json.dumps(dict(
    device=rows[0]['device'] if rows else None, cuda_tests_rc=int(sys.argv[2]),
    rows=len(rows), best_ddp_images_per_s=best and best['images_per_s'],
    best_ddp_settings=best and dict(compile=best['compile'], cuda_graphs=best['cuda_graphs'],
                                    static_graph=best['ddp']['static_graph']),
    target_1000_met=bool(best and best['images_per_s'] >= 1000))))
PYEOF
say "done; logs in $OUT"
exit "$tests_rc"
