#!/usr/bin/env bash
# The GPU study of docs/comparison.md: GTSA vs DINO with the paper's ViT-S/16 and crops on
# 10,000 generated scenes of 320 px, each pretrained for the same wall-clock time on one GPU
# (batch 128, bfloat16), then the frozen dense probes; one table at the end.
#
#   bash tools/study_gpu.sh                        # 30 min per method: about 70 min in all
#   bash tools/study_gpu.sh --minutes 60 --resume  # more arguments go to tools/compare.py
#   bash tools/study_gpu.sh --quick                # the same code path on a CPU, in minutes
#   PY=python3 bash tools/study_gpu.sh
#
# It runs `tools/compare.py --preset gpu-vit-s16 "$@"` (gtsa_mm_lab.demo.gpu_study; options
# --minutes, --scenes, --scene-size, --batch-size, --seed, --data-root, --work-dir,
# --resume, --device). Without a pip install of this repository it puts ./.site (wheels
# installed with `pip install --no-index --no-deps --target .site WHEELS`) and the
# repository root on PYTHONPATH. Needs torch, mmengine, mmpretrain, opencv and pycocotools
# (the labelled scenes' COCO masks); no mmcv ops.
set -u
PY=${PY:-python}
NAME=study_gpu
cd "$(dirname "$0")/.."
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
[ -d .site ] && PYTHONPATH="$PWD/.site:$PYTHONPATH"
export PYTHONPATH
source tools/gpu_common.sh

cpu=0 previous=
for arg in "$@"; do
    case "$previous $arg" in
        *" --quick" | *" --help" | *" -h" | "--device cpu" | *" --device=cpu") cpu=1 ;;
    esac
    previous=$arg
done
missing=$("$PY" - <<'PYEOF'
import importlib.util
names = ('torch', 'mmengine', 'mmpretrain', 'cv2', 'pycocotools')
print(' '.join(n for n in names if importlib.util.find_spec(n) is None))
PYEOF
)
if [ -n "$missing" ]; then
    echo "tools/$NAME.sh: $PY cannot import: $missing (pip install -r requirements.txt, or" \
         "carry the wheels into .site; docs/comparison.md, GPU study)" >&2
    exit 2
fi
if [ "$cpu" = 0 ]; then
    require_cuda "; pass --quick for the CPU smoke run or --device cpu for the full study on a CPU"
fi
say "tools/compare.py --preset gpu-vit-s16 $*"
"$PY" tools/compare.py --preset gpu-vit-s16 "$@"
rc=$?
say "done (exit $rc)"
exit $rc
