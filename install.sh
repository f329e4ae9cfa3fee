#!/usr/bin/env bash
# Installs Overnight into the current Python environment, choosing the torch build on purpose.
#   ./install.sh         runtime dependencies
#   ./install.sh --dev   plus pytest, hypothesis and ruff
# Torch: an existing install is kept; with a CUDA driver (nvidia-smi) the default CUDA build is used;
# without one, the CPU build 2.13.0: first from a local wheel if pip has one (no download of torch), otherwise from
# the PyTorch CPU index, so a laptop never pulls several GB of CUDA packages by surprise.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${OVERNIGHT_TORCH_VERSION:-2.13.0}"
TORCH_CPU_INDEX="${OVERNIGHT_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"

pip_install() { "$PYTHON" -m pip install --disable-pip-version-check -q "$@"; }

if "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "install: keeping torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1; then
    echo "install: CUDA driver found; installing torch==$TORCH_VERSION (CUDA build)"
    pip_install "torch==$TORCH_VERSION"
else
    echo "install: no CUDA driver; installing the CPU build torch==$TORCH_VERSION"
    # The local wheel alone (--no-deps: its dependencies are not on disk), then its dependencies from the
    # usual index, where torch itself is already satisfied; without a local wheel, the CPU index.
    if pip_install --no-index --no-deps "torch==$TORCH_VERSION" 2>/dev/null; then
        pip_install "torch==$TORCH_VERSION"
    else
        pip_install "torch==$TORCH_VERSION" --index-url "$TORCH_CPU_INDEX"
    fi
fi

echo "install: installing overnight$extra (editable)"
pip_install -e ".$extra"
echo "install: done"
