#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU, in the OpenMMLab form:
#
#   [GPUS=16] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#       bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
#
# srun starts GPUS tasks (GPUS / GPUS_PER_NODE nodes); each runs tools/train.py with
# --launcher slurm and takes its rank from Slurm (SLURM_PROCID, SLURM_NTASKS,
# SLURM_NODELIST; the first node is the master, port MASTER_PORT or 29500).
set -euo pipefail
usage="usage: [GPUS=N] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]"
PARTITION=${1:?$usage}
JOB_NAME=${2:?$usage}
CONFIG=${3:?$usage}
WORK_DIR=${4:?$usage}
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
DIR=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python}
[ -x "$DIR/../.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$DIR/../.venv/bin/python"

# shellcheck disable=SC2086  # SRUN_ARGS holds several srun options
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" exec srun \
    --partition="$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres="gpu:$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PY" -u "$DIR/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "$@"
