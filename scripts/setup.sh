#!/usr/bin/env bash
# Create .venv (if missing) and install resnext-bench into it.
#
# On this project's CPU machines (and CI): torch==2.13.0 (the CPU wheel) is installed *first*,
# pinned, so that resolving the package never pulls a multi-GB CUDA build.
#
# On a GPU machine that has its own CUDA torch and no package registry (the lent machines):
#   - the machine's torch is used: the venv sees the system site packages and no torch is
#     installed (automatic when `$PYTHON -c 'import torch'` is a CUDA build; SYSTEM_TORCH=1|0
#     forces it);
#   - WHEEL_DIR=DIR (or PIP_NO_INDEX=1) installs without a registry: `--no-index --find-links DIR`,
#     the package itself with --no-deps (its dependencies must already be there), and the ONNX
#     Runtime of the extra (onnxruntime-gpu for ORT_EXTRA=gpu) from DIR's wheels.
#     The venv's own site-packages come before the system's, so a GPU wheel installed here wins
#     over a preinstalled CPU onnxruntime (which `resnext-bench doctor` then notes as shadowed).
#
# Variables: PYTHON, TORCH_SPEC (default torch==2.13.0), ORT_EXTRA (cpu|gpu), WHEEL_DIR,
# SYSTEM_TORCH (auto|1|0). Argument: the extras (default $ORT_EXTRA), e.g. "cpu,test".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
ORT_EXTRA=${ORT_EXTRA:-cpu}
EXTRAS=${1:-$ORT_EXTRA}

system_torch=${SYSTEM_TORCH:-auto}
if [ "$system_torch" = auto ]; then
  if "$PY" -c "import sys, torch; sys.exit(0 if torch.version.cuda else 1)" >/dev/null 2>&1; then
    system_torch=1
  else
    system_torch=0
  fi
fi
offline=0
case "${PIP_NO_INDEX:-}" in 1|true|yes|on) offline=1 ;; esac
pip_args=(-q)
if [ -n "${WHEEL_DIR:-}" ]; then
  [ -d "$WHEEL_DIR" ] || { echo "error: WHEEL_DIR=$WHEEL_DIR is not a directory" >&2; exit 2; }
  offline=1
  pip_args+=(--no-index --find-links "$WHEEL_DIR")
elif [ $offline = 1 ]; then
  pip_args+=(--no-index)
fi

kind="system_torch=$system_torch"
if [ -x .venv/bin/python ] && [ "$(cat .venv/.resnext-bench-kind 2>/dev/null || echo system_torch=0)" != "$kind" ]; then
  rm -rf .venv  # made for the other kind of machine
fi
if [ ! -x .venv/bin/python ]; then
  if [ "$system_torch" = 1 ]; then
    "$PY" -m venv --system-site-packages .venv
  else
    "$PY" -m venv .venv
  fi
  echo "$kind" > .venv/.resnext-bench-kind
fi

stamp=".venv/.resnext-bench-installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$EXTRAS-$offline"
if [ ! -f "$stamp" ]; then
  PIP=(.venv/bin/python -m pip install "${pip_args[@]}")
  if [ $offline = 0 ]; then
    .venv/bin/python -m pip install -q --upgrade pip 2>/dev/null || true
  fi
  if [ "$system_torch" = 0 ]; then
    "${PIP[@]}" "$TORCH_SPEC"
  fi
  if [ $offline = 0 ]; then
    "${PIP[@]}" -e ".[$EXTRAS]"
  else
    # no registry: the dependencies come from the machine; only ONNX Runtime from the wheels
    "${PIP[@]}" --no-deps --no-build-isolation -e .
    case ",$EXTRAS," in
      *,gpu,*) "${PIP[@]}" --no-deps onnxruntime-gpu ;;
      *,cpu,*) .venv/bin/python -c "import onnxruntime" 2>/dev/null || "${PIP[@]}" --no-deps onnxruntime ;;
    esac
  fi
  rm -f .venv/.resnext-bench-installed-*
  touch "$stamp"
fi
