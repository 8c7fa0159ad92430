#!/usr/bin/env bash
# Create .venv at the repo root and install aimstudy with its dev extras.
# CPU torch goes in first: on its own, pip would resolve torch to a multi-gigabyte CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip "setuptools<82" wheel
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "==> installing torch ${TORCH_VERSION} (CPU build where available)"
    .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION}" \
        || .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION}" \
            --index-url https://download.pytorch.org/whl/cpu
fi
echo "==> installing aimstudy and its dev extras"
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "==> installed: $(.venv/bin/aimstudy --version)"
