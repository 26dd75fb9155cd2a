#!/usr/bin/env bash
# Installs the gtsa-mm stack into .venv/ (see ../shared/STACK.md for why each step is so).
# Prints one line per step as it starts and its measured duration as it ends.
# Idempotent: a stamp keyed on the install inputs makes a second run return in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
MMCV_VERSION=2.1.0
TORCH_VERSION=$(sed -n 's/^torch==//p' requirements.txt)
CACHE_DIR=${GTSA_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gtsa_mm}
STAMP="$VENV/.gtsa_mm_install_stamp"
KEY=$(cat requirements.txt pyproject.toml tools/install.sh | sha256sum | cut -d' ' -f1)

# Keep the log readable: what the tools print that is expected goes (install_log_filter.awk).
FILTER=(awk -f "$PWD/tools/install_log_filter.awk")
quiet() { "$@" > >("${FILTER[@]}") 2> >("${FILTER[@]}" >&2); }
say() { printf '\033[1m[install %s]\033[0m %s\n' "$(date +%H:%M:%S)" "$*"; }
# One line when a step starts and one with its measured duration when it ends.
STEP="" STEP_START=$SECONDS INSTALL_START=$SECONDS
took() { local s=$(($1)); [ "$s" -ge 60 ] && echo "$((s / 60)) min $((s % 60)) s" || echo "$s s"; }
step() {
    [ -n "$STEP" ] && say "    ${STEP%% *} took $(took $((SECONDS - STEP_START)))"
    STEP=$1 STEP_START=$SECONDS
    [ -n "$STEP" ] && say "$STEP"
    return 0
}

# Cheap check (no imports): the stamp matches and mmcv's compiled ops are in place.
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ] \
        && compgen -G "$VENV/lib/python*/site-packages/mmcv/_ext*.so" >/dev/null; then
    say "up to date ($VENV); nothing to do"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=(quiet "$PY" -m pip install --disable-pip-version-check)

step "1/5 build tools: setuptools>=77,<82, wheel"
"${PIP[@]}" -q --upgrade 'pip' 'setuptools>=77,<82' wheel

step "2/5 torch==$TORCH_VERSION torchvision (about 1.5 min the first time)"
"${PIP[@]}" -q "torch==$TORCH_VERSION" "$(grep '^torchvision==' requirements.txt)" 'setuptools>=77,<82'

step "3/5 mmcv==$MMCV_VERSION with ops"
if "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    say "    mmcv $MMCV_VERSION with ops already installed"
else
    PLATFORM=$("$PY" -c 'import sysconfig; print(sysconfig.get_platform().replace("-", "_"))')
    PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    WHEEL_DIR="$CACHE_DIR/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG-$PLATFORM"
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        say "    building mmcv $MMCV_VERSION from its sdist (10-20 minutes on 2 cores)"
        BUILD=$(mktemp -d)
        trap 'rm -rf "$BUILD"' EXIT
        quiet "$PY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
            --no-build-isolation "mmcv==$MMCV_VERSION" -d "$BUILD"
        tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
        # torch >= 2.10 headers refuse to compile below C++20.
        sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
        "${PIP[@]}" -q 'ninja' 'psutil' 'packaging' 'addict' 'yapf' 'opencv-python' 'numpy' 'Pillow' 'pyyaml'
        (cd "$BUILD/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            quiet "$OLDPWD/$PY" -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation \
            -w "$BUILD/wheel" .)
        mkdir -p "$WHEEL_DIR"
        mv "$BUILD"/wheel/mmcv-*.whl "$WHEEL_DIR/"
        say "    cached the built wheel in $WHEEL_DIR"
    else
        say "    using the cached wheel in $WHEEL_DIR"
    fi
    "${PIP[@]}" -q --no-deps "$WHEEL_DIR"/mmcv-*.whl
    "${PIP[@]}" -q addict yapf opencv-python numpy Pillow pyyaml packaging
fi

step "4/5 OpenMMLab toolboxes and the rest of requirements.txt"
"${PIP[@]}" -q -r requirements.txt
# openmim pulls openxlab, which downgrades setuptools; mim train/test need only these.
# openmim last and with --no-deps: pip then does not report its missing opendatalab.
"${PIP[@]}" -q click colorama model-index pandas requests rich tabulate
"${PIP[@]}" -q --no-deps openmim==0.3.9
"$PY" -m pip uninstall -y -q transformers 2>/dev/null || true

step "5/5 gtsa_mm (editable)"
"${PIP[@]}" -q --no-deps --no-build-isolation -e .

"$PY" -c 'import torch, mmcv, mmcv.ops, mmengine, mmpretrain, mmdet, mmseg, gtsa_mm
print("torch", torch.__version__, "| mmcv", mmcv.__version__, "| mmengine", mmengine.__version__,
      "| mmpretrain", mmpretrain.__version__, "| mmdet", mmdet.__version__, "| mmseg", mmseg.__version__)'
step ""
echo "$KEY" > "$STAMP"
say "done in $(took $((SECONDS - INSTALL_START)))"
