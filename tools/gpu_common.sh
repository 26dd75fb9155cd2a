# Sourced by the GPU scripts (tools/benchmark_gpu.sh, tools/benchmark_ddp_gpu.sh) after they
# set NAME and PY: `say` prints a line stamped with the seconds since sourcing, and
# `require_cuda [HINT]` exits 2 with HINT when $PY sees no CUDA device, else prints torch's
# version and the device name.
start=$(date +%s)
say() { echo "[$NAME +$(( $(date +%s) - start ))s] $*"; }
require_cuda() {
    if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        echo "tools/$NAME.sh: no CUDA device visible to $PY${1:-}" >&2
        exit 2
    fi
    "$PY" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())'
}
