#!/usr/bin/env bash
# Multi-process training with torchrun: bash tools/dist_train.sh CONFIG NUM_PROCS [args...]
# On machines without GPUs the processes use the gloo backend on CPU.
set -euo pipefail
CONFIG=${1:?usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py args]}
NPROC=${2:?usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py args]}
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python}
[ -x "$DIR/../.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$DIR/../.venv/bin/python"
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" exec "$PY" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$DIR/train.py" "$CONFIG" --launcher pytorch "$@"
