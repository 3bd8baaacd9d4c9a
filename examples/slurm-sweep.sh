#!/usr/bin/env bash
# A sweep as a Slurm job array: task I of N runs slice I of the sweep, then one dependent job
# merges the slices and writes the report.
#
#   jid=$(sbatch --parsable --array=1-8 examples/slurm-sweep.sh configs/deploy_gpu.toml runs/deploy)
#   sbatch --dependency=afterany:$jid --wrap \
#     "resnext-bench merge runs/deploy/shard-* --out runs/deploy/merged && \
#      resnext-bench report runs/deploy/merged --format html --out runs/deploy/merged/report.html"
#
# One GPU per task (a measurement owns its device); exclusive nodes for CPU sweeps so that two
# measurements never share cores. A task that dies leaves whole rows only: re-submit the same
# array index with --resume added and it runs what is missing.
#SBATCH --job-name=resnext-bench
#SBATCH --gres=gpu:1
#SBATCH --time=02:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
config=$1
out=$2
n=${SLURM_ARRAY_TASK_COUNT:?run as an array job}
i=${SLURM_ARRAY_TASK_ID:?run as an array job}
# array ids start at 1 in the sbatch line above
resnext-bench sweep "$config" --out "$out/shard-$i" --shard "$i/$n" ${RESUME:+--resume}
