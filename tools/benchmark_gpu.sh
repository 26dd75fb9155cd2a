#!/usr/bin/env bash
# One GPU: the CUDA-only tests, the batch-64/128 benchmark table of docs/benchmarks.md and a
# torch.profiler table of the compiled and graphed batch-64 step (PROFILE=0 skips it).
#
#   make benchmark-gpu                      # or: bash tools/benchmark_gpu.sh
#   PY=python3 OUT=/tmp/gpu bash tools/benchmark_gpu.sh
#
# About 4 minutes on an H200 (each row: imports, compilation (~40 s with --compile layers),
# CUDA graph capture, 56 steps, 8 images of data timing; ROW_TIMEOUT caps a row). Every
# benchmark row is one process; its JSON line is collected in $OUT/benchmarks.jsonl, its log
# in $OUT/rows.log, and the rows are printed as a table at the end. Rows that
# differ only in one setting compare that setting (same machine, same call).
set -u
PY=${PY:-python}
OUT=${OUT:-work_dirs/benchmark_gpu}
ROW_TIMEOUT=${ROW_TIMEOUT:-150}
mkdir -p "$OUT"
: > "$OUT/benchmarks.jsonl"
NAME=benchmark_gpu
source "$(dirname "$0")/gpu_common.sh"
require_cuda "; for CPU use 'make benchmark'"

say "CUDA tests (graphs and compiled layers equal eager; no host-device sync in the step)"
"$PY" -m pytest -q -p no:cacheprovider tests/models/test_cuda_graphs.py \
    tests/models/test_compile.py tests/models/test_host_syncs.py \
    tests/models/test_data_preprocessor.py 2>&1 | tail -15
tests_rc=${PIPESTATUS[0]}

BENCH="$PY tools/benchmark.py --device cuda --warmup 4 --iters 20 --data-images 8"
rows=(
    "--batch-size 64"                                             # eager
    "--batch-size 64 --cuda-graphs"
    "--batch-size 64 --compile layers"
    "--batch-size 64 --cuda-graphs --compile layers"              # the fastest settings
    "--batch-size 128 --cuda-graphs --compile layers"
    "--batch-size 64 --cuda-graphs --compile layers --drop-path-rate 0"  # what drop path costs
)
: > "$OUT/rows.log"
for row in "${rows[@]}"; do  # one log for all rows: the device tool returns few files
    echo "=== $row" >> "$OUT/rows.log"
    timeout "$ROW_TIMEOUT" $BENCH $row > "$OUT/row.log" 2>&1
    rc=$?
    cat "$OUT/row.log" >> "$OUT/rows.log"
    say "[$row] rc=$rc: $(grep -E '^GTSA step' "$OUT/row.log")"
    if [ $rc -eq 0 ]; then
        tail -1 "$OUT/row.log" >> "$OUT/benchmarks.jsonl"
    else
        grep -iE "error|Traceback" "$OUT/row.log" | tail -3
    fi
done
rm -f "$OUT/row.log"
if [ "${PROFILE:-1}" = 1 ]; then  # where the GPU time of the graphed step goes now
    timeout "$ROW_TIMEOUT" $BENCH --batch-size 64 --cuda-graphs --compile layers --iters 2 \
        --profile "$OUT/profile_fast64.txt" >> "$OUT/rows.log" 2>&1
    say "profile rc=$?: $OUT/profile_fast64.txt"
    sed -n '1,30p' "$OUT/profile_fast64.txt" | sed -E 's/^(.{56}).*(.{62})$/\1|\2/'
fi
"$PY" - "$OUT/benchmarks.jsonl" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print('| batch | optimizer | cudnn.benchmark | compile | CUDA graphs | drop path | GTSA step | '
      'network step | GTSA / network | images/s | host syncs | peak memory |')
print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for r in rows:
    print(f"| {r['batch_size']} | {r['optimizer']} | {r['cudnn_benchmark']} | {r['compile']} | "
          f"{r['cuda_graphs']} | {r['drop_path_rate']} | {r['gtsa_step_s'] * 1000:.1f} ms | "
          f"{r['network_step_s'] * 1000:.1f} ms | {r['gtsa_over_network']:.3f} | "
          f"{r['images_per_s']:.0f} | {r['host_syncs_per_step']} | {r['peak_mem_gib']} GiB |")
print(rows[0]['device'] if rows else 'no benchmark row finished')
EOF
say "done; logs in $OUT (tests rc=$tests_rc)"
exit "$tests_rc"
