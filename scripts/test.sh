#!/usr/bin/env bash
# Set up (if needed) and run the test suite on CPU. GPU tests skip cleanly without CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenVINO where its wheels exist (x86-64 and ARM Linux); elsewhere its tests skip
bash scripts/setup.sh "${ORT_EXTRA:-cpu},test,ray,openvino,nncf,serve" || bash scripts/setup.sh "${ORT_EXTRA:-cpu},test,ray,nncf,serve"
# one pytest worker per CPU (at most 4): the tests spend most of their time starting processes
# and importing, so two workers on 2 CPUs take 7.8 minutes where one took 10.7 (measured here);
# every test is about behaviour, never about the machine being idle
if .venv/bin/python -c "import xdist" 2>/dev/null; then
  # worksteal: a worker that runs out of tests takes queued ones from the other (the suite's
  # few long tests then do not leave one CPU idle at the end)
  exec .venv/bin/python -m pytest -q -n auto --maxprocesses 4 --dist worksteal "$@"
fi
exec .venv/bin/python -m pytest -q "$@"
