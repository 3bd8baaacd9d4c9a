#!/usr/bin/env bash
# The main job: set up, export resnext50_32x4d to a checked ONNX file, benchmark it on every
# runtime this machine has (OpenVINO included where its wheels install) at batch 1 and 8, in the
# precisions this machine's ISA makes worth trying (fp32; bf16 with AMX or AVX-512 BF16; int8
# wherever ORT or OpenVINO have int8 kernels: AVX2 and up, NEON, a GPU; fp16 on a GPU), check parity on the built-in real photos, write the
# markdown and HTML reports, then `tune`: the staged search for the configuration to deploy on
# this machine, its answer against the default configuration and its bundle.
# The whole job has MAIN_MINUTES (default 12): the bench is sized to fit (3 interleaved rounds,
# layer-wise parity left to the parity step's one table) and the tune gets what is left, less
# a minute for the reports (TUNE_MINUTES overrides). RUN_DIR, ARCH, PREC (a comma list),
# MAIN_MINUTES and TUNE_MINUTES may be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
MAIN_START=$(date +%s)
MAIN_MINUTES=${MAIN_MINUTES:-12}
bash scripts/setup.sh "${ORT_EXTRA:-cpu},openvino,nncf,reference,serve" || bash scripts/setup.sh "${ORT_EXTRA:-cpu},nncf,serve"
RB=.venv/bin/resnext-bench
ARCH=${ARCH:-resnext50_32x4d}
RUN_DIR=${RUN_DIR:-runs/main-$(date +%Y%m%d-%H%M%S)}
PREC=${PREC:-$(.venv/bin/python - <<'PY'
from resnext_bench.bench.env import cpu_flags
from resnext_bench.core.isa import precisions_worth_trying
import torch
chosen = precisions_worth_trying(cpu_flags(), cuda=torch.cuda.is_available())
print(",".join(chosen))
PY
)}
echo "precisions worth trying here (from the ISA): $PREC"
$RB doctor || true
$RB export --arch "$ARCH"
status=0
# parity on the built-in photos (int8 is calibrated on other crops of them): on seeded noise the
# default weights decide near ties, which would describe the weights, not the runtime
$RB bench --arch "$ARCH" --runtime all --batch 1,8 --precision "$PREC" --warmup 3 --iters 15 \
  --rounds 3 --no-layers --images builtin --out "$RUN_DIR" || status=$?
# parity on all 16 photos at batch 1, every runtime and precision, in one table
$RB parity --arch "$ARCH" --runtime all --precision "$PREC" --images builtin \
  || status=$?
$RB report "$RUN_DIR" --format md --out "$RUN_DIR/report.md"
$RB report "$RUN_DIR" --format html --out "$RUN_DIR/report.html"
$RB recommend "$RUN_DIR" --objective latency || true
echo "report: $RUN_DIR/report.md and $RUN_DIR/report.html"
# the answer for this machine: a budgeted search over every runtime, precision, thread count
# and option worth trying here (rows, tune.json and the bundle under $RUN_DIR/tune)
# and sized to what is left of MAIN_MINUTES (less a minute of margin)
TUNE_MINUTES=${TUNE_MINUTES:-$(awk -v m="$MAIN_MINUTES" -v s="$MAIN_START" -v n="$(date +%s)" \
  'BEGIN { t = m - (n - s) / 60 - 1; printf "%.1f", (t < 2 ? 2 : t) }')}
echo "tune budget: $TUNE_MINUTES min (of MAIN_MINUTES=$MAIN_MINUTES, $(( $(date +%s) - MAIN_START )) s spent)"
$RB tune --arch "$ARCH" --objective latency --budget-minutes "$TUNE_MINUTES" \
  --out "$RUN_DIR/tune" || status=$?
echo "main job: $(( $(date +%s) - MAIN_START )) s (MAIN_MINUTES=$MAIN_MINUTES)"
exit $status
