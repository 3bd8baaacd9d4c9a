#!/usr/bin/env bash
# Set up (if needed) and run the test suite on CPU. GPU tests skip cleanly without CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "${ORT_EXTRA:-cpu},test,ray"
exec .venv/bin/python -m pytest -q "$@"
