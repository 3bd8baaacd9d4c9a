#!/usr/bin/env bash
# The main job: set up, export resnext50_32x4d to a checked ONNX file, benchmark it on every
# runtime this machine has (OpenVINO included where its wheels install) at batch 1 and 8, in the
# precisions this machine's ISA makes worth trying (fp32; bf16 with AMX or AVX-512 BF16; int8
# wherever ORT or OpenVINO have int8 kernels: AVX2 and up, NEON, a GPU; fp16 on a GPU), check parity on the built-in real photos, write the
# markdown and HTML reports, then `tune`: the staged search for the configuration to deploy on
# this machine (TUNE_MINUTES of budget, default 8: int8 by two quantizers doubles the int8 candidates), its answer against the default
# configuration and its bundle. RUN_DIR, ARCH, PREC (a comma list) and TUNE_MINUTES may be
# overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "${ORT_EXTRA:-cpu},openvino,nncf,reference" || bash scripts/setup.sh "${ORT_EXTRA:-cpu},nncf"
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
$RB bench --arch "$ARCH" --runtime all --batch 1,8 --precision "$PREC" --warmup 5 --iters 30 \
  --images builtin --out "$RUN_DIR" || status=$?
# parity on all 16 photos at batch 1, every runtime and precision, in one table
$RB parity --arch "$ARCH" --runtime all --precision "$PREC" --images builtin \
  || status=$?
$RB report "$RUN_DIR" --format md --out "$RUN_DIR/report.md"
$RB report "$RUN_DIR" --format html --out "$RUN_DIR/report.html"
$RB recommend "$RUN_DIR" --objective latency || true
echo "report: $RUN_DIR/report.md and $RUN_DIR/report.html"
# the answer for this machine: a budgeted search over every runtime, precision, thread count
# and option worth trying here (rows, tune.json and the bundle under $RUN_DIR/tune)
$RB tune --arch "$ARCH" --objective latency --budget-minutes "${TUNE_MINUTES:-8}" \
  --out "$RUN_DIR/tune" || status=$?
exit $status
