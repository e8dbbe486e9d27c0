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
#
# Exit status: train.py's for the run; 2 when CONFIG or SLURM_ARRAY_TASK_ID is unset, when the index
# is not a non-negative decimal integer (leading zeros allowed: 08 is 8) or is past the last run;
# when listing the runs fails (a missing config, a bad --set), the status of `train.py --list-runs`,
# after its own message only. Each error is one line on stderr.
#SBATCH --job-name=restoration-grid
#SBATCH --gres=gpu:1
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

cd "${SLURM_SUBMIT_DIR:-.}"
python="${PYTHON:-.venv/bin/python}"
config="${CONFIG:-}"
task="${SLURM_ARRAY_TASK_ID:-}"
if [[ -z $config ]]; then
  echo "error: CONFIG is not set: expected the experiment YAML file" >&2
  exit 2
fi
if [[ -z $task ]]; then
  echo "error: SLURM_ARRAY_TASK_ID is not set: run this script as a SLURM array job (sbatch --array=...)" >&2
  exit 2
fi

# The index is read as a decimal number: bash would read "08" as octal and "abc" as a variable.
if [[ ! $task =~ ^[0-9]+$ ]]; then
  echo "error: SLURM_ARRAY_TASK_ID=$task: expected a non-negative integer" >&2
  exit 2
fi
digits="$task"
while [[ $digits == 0?* ]]; do digits="${digits#0}"; done
if (( ${#digits} > 18 )); then  # past what bash's 64-bit arithmetic holds, and past any grid
  digits=999999999999999999
fi
index=$((10#$digits))

# Listing fails with its own one-line message (train.py's exit status 2 for a config error).
status=0
listing="$("$python" train.py --config "$config" --list-runs "$@")" || status=$?
if (( status != 0 )); then
  exit "$status"
fi
plan=()
if [[ -n $listing ]]; then
  mapfile -t plan <<< "$listing"
fi
if (( index >= ${#plan[@]} )); then
  if (( ${#plan[@]} == 0 )); then
    echo "error: SLURM_ARRAY_TASK_ID=$task, but $config lists no runs" >&2
  else
    echo "error: SLURM_ARRAY_TASK_ID=$task, but $config has ${#plan[@]} runs" \
         "(indices 0-$(( ${#plan[@]} - 1 )))" >&2
  fi
  exit 2
fi
# shellcheck disable=SC2086  # the line is "--arm A --seed S", two options
exec "$python" train.py --config "$config" ${plan[$index]} --no-report --quiet "$@"
