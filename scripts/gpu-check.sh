#!/usr/bin/env bash
# One command for a GPU machine:  bash scripts/gpu-check.sh WHEEL_DIR OUT_DIR
#
# For a machine with a CUDA GPU, its own CUDA torch, no package registry, and a folder holding
# the onnxruntime-gpu wheel (split into parts that each fit one device call, reassembled there). It
#   1. installs resnext-bench without network (scripts/setup.sh: the machine's torch, the wheel);
#   2. runs `resnext-bench doctor` and the GPU tests (pytest -m gpu);
#   3. benchmarks resnext50_32x4d on torch and ort-cuda, fp32 (TF32 off) and fp16, batch 1 and 32,
#      CUDA-event compute time and end-to-end time;
#   4. cross-checks the model against torchvision where torchvision imports;
#   5. writes the run dir, reports and logs into OUT_DIR and prints a short summary.
# Without a GPU it says so in one line and exits 2. Budget: well under 10 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
  echo "usage: bash scripts/gpu-check.sh WHEEL_DIR OUT_DIR" >&2
  exit 2
fi
WHEEL_DIR=$1
OUT=$2
PY=${PYTHON:-python3}
why=$("$PY" -c "
import sys
try:
    import torch
except ImportError:
    sys.exit('torch is not installed for $PY')
if not torch.cuda.is_available():
    sys.exit(f'torch {torch.__version__} sees no CUDA GPU')
" 2>&1) || { echo "error: gpu-check needs a CUDA GPU: ${why##*$'\n'}" >&2; exit 2; }
[ -d "$WHEEL_DIR" ] || { echo "error: WHEEL_DIR $WHEEL_DIR is not a directory" >&2; exit 2; }
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
t0=$(date +%s)
WHEEL_DIR="$WHEEL_DIR" PIP_NO_INDEX=1 SYSTEM_TORCH=1 PYTHON="$PY" bash scripts/setup.sh gpu \
  2>&1 | grep -v "^WARNING: Location" | tee "$OUT/setup.log"
RB=.venv/bin/resnext-bench
$RB doctor 2>&1 | tee "$OUT/doctor.txt"
.venv/bin/python -m pytest -q -m gpu tests -p no:cacheprovider 2>&1 | tee "$OUT/pytest-gpu.txt"
tests_rc=${PIPESTATUS[0]}
RUN="$OUT/run"
# ort-cuda when it is usable here; otherwise its reason goes into the log and torch still runs
RUNTIMES=$($RB list --json | .venv/bin/python -c "
import json, sys
rts = {r['name']: r for r in json.load(sys.stdin)['runtimes']}
if not rts['ort-cuda']['available']:
    print('ort-cuda not usable: ' + rts['ort-cuda']['reason'], file=sys.stderr)
print('torch,ort-cuda' if rts['ort-cuda']['available'] else 'torch')" 2> >(tee "$OUT/ort-cuda-reason.txt" >&2))
$RB bench --arch resnext50_32x4d --runtime "$RUNTIMES" --device cuda --precision fp32,fp16 \
  --batch 1,32 --warmup 20 --iters 100 --min-time 1 --artifacts "$OUT/artifacts" --out "$RUN" \
  2>&1 | tee "$OUT/bench.txt"
bench_rc=${PIPESTATUS[0]}
$RB report "$RUN" --format md --out "$RUN/report.md"
$RB report "$RUN" --format html --out "$RUN/report.html"
.venv/bin/python benchmarks/torchvision_crosscheck.py --out "$OUT/torchvision.json" \
  --artifacts "$OUT/artifacts" 2>&1 | tee "$OUT/torchvision.txt"
cross_rc=${PIPESTATUS[0]}
echo
echo "gpu-check summary ($(( $(date +%s) - t0 )) s): GPU tests rc=$tests_rc, bench rc=$bench_rc, torchvision cross-check rc=$cross_rc"
grep -E "^resnext50" "$OUT/bench.txt" || true
echo "written: $OUT (run dir $RUN, report.md, report.html, doctor.txt, pytest-gpu.txt, torchvision.json)"
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ] && [ "$cross_rc" = 0 ]
