#!/usr/bin/env bash
# The main job: set up, export resnext50_32x4d to a checked ONNX file, benchmark it on every
# runtime this machine has (batch 1 and 8; fp16 too when a CUDA GPU is present), check parity on
# the built-in real photos, and write the markdown and HTML reports. RUN_DIR and ARCH may be
# overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "${ORT_EXTRA:-cpu}"
RB=.venv/bin/resnext-bench
ARCH=${ARCH:-resnext50_32x4d}
RUN_DIR=${RUN_DIR:-runs/main-$(date +%Y%m%d-%H%M%S)}
PREC=fp32
if .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  PREC=fp32,fp16
fi
$RB doctor || true
$RB export --arch "$ARCH"
status=0
$RB bench --arch "$ARCH" --runtime all --batch 1,8 --precision "$PREC" --warmup 5 --iters 30 \
  --out "$RUN_DIR" || status=$?
# parity on natural images too (the bench rows use seeded synthetic inputs)
$RB parity --arch "$ARCH" --runtime all --precision "$PREC" --images builtin --parity-images 16 \
  || status=$?
$RB report "$RUN_DIR" --format md --out "$RUN_DIR/report.md"
$RB report "$RUN_DIR" --format html --out "$RUN_DIR/report.html"
$RB recommend "$RUN_DIR" --objective latency || true
echo "report: $RUN_DIR/report.md and $RUN_DIR/report.html"
exit $status
