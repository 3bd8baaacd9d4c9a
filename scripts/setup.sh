#!/usr/bin/env bash
# Create .venv (if missing) and install resnext-bench into it, with the CPU build of torch.
# torch is installed first, pinned, so that resolving the package never pulls a CUDA build.
# Override with TORCH_SPEC (e.g. TORCH_SPEC='torch==2.11.0' on a CUDA machine) and
# ORT_EXTRA=gpu to get onnxruntime-gpu instead of onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
ORT_EXTRA=${ORT_EXTRA:-cpu}
EXTRAS=${1:-$ORT_EXTRA}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=".venv/.resnext-bench-installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$EXTRAS"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>/dev/null || true
  .venv/bin/python -m pip install -q "$TORCH_SPEC"
  .venv/bin/python -m pip install -q -e ".[$EXTRAS]"
  rm -f .venv/.resnext-bench-installed-*
  touch "$stamp"
fi
