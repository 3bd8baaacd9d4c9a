#!/usr/bin/env bash
# Set up (if needed) and run the test suite on CPU. GPU tests skip cleanly without CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenVINO where its wheels exist (x86-64 and ARM Linux); elsewhere its tests skip
bash scripts/setup.sh "${ORT_EXTRA:-cpu},test,ray,openvino,nncf" || bash scripts/setup.sh "${ORT_EXTRA:-cpu},test,ray,nncf"
exec .venv/bin/python -m pytest -q "$@"
