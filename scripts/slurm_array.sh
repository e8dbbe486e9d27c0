#!/bin/bash
# One run of an experiment grid per SLURM array task: the array index picks the arm and seed.
#
#   CONFIG=configs/ablations/placement.yaml
#   RUNS=$(.venv/bin/python train.py --config $CONFIG --list-runs | wc -l)
#   CONFIG=$CONFIG sbatch --array=0-$((RUNS - 1)) scripts/slurm_array.sh --set output.root=/shared/runs
#   make report RUN=/shared/runs/<experiment>        # whenever you like: it reports what has finished
#
# Arguments after the script name go to train.py for listing and for training alike (so an override
# such as output.root, which every task must share, changes the list and the run the same way).
# PYTHON names the interpreter (default .venv/bin/python in the submission directory).
#SBATCH --job-name=restoration-grid
#SBATCH --gres=gpu:1
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

cd "${SLURM_SUBMIT_DIR:-.}"
python="${PYTHON:-.venv/bin/python}"
config="${CONFIG:?set CONFIG to the experiment YAML file}"
index="${SLURM_ARRAY_TASK_ID:?run this script as a SLURM array job (sbatch --array=...)}"

mapfile -t plan < <("$python" train.py --config "$config" --list-runs "$@")
if (( index < 0 || index >= ${#plan[@]} )); then
  echo "error: SLURM_ARRAY_TASK_ID=$index, but $config has ${#plan[@]} runs (indices 0-$(( ${#plan[@]} - 1 )))" >&2
  exit 2
fi
# shellcheck disable=SC2086  # the line is "--arm A --seed S", two options
exec "$python" train.py --config "$config" ${plan[$index]} --no-report --quiet "$@"
