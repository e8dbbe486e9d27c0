#!/usr/bin/env bash
# Renders a TensorBoard dashboard of a runs folder to a PNG with headless Chromium (Debian's
# `chromium` package), as docs/tensorboard_experiment.png was made:
#
#   scripts/tensorboard_screenshot.sh RUNS OUTPUT.png [DASHBOARD]   # DASHBOARD: custom_scalars (default), text, hparams ...
set -euo pipefail
runs=${1:?usage: $0 RUNS OUTPUT.png [DASHBOARD]}
output=${2:?usage: $0 RUNS OUTPUT.png [DASHBOARD]}
dashboard=${3:-custom_scalars}
cd "$(dirname "$0")/.."
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/tensorboard --logdir "$runs" --host 127.0.0.1 --port "$port" > /dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
for _ in $(seq 60); do
  .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2> /dev/null && break
  sleep 1
done
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1700,1000 \
  --virtual-time-budget=20000 --screenshot="$output" "http://127.0.0.1:$port/#$dashboard" > /dev/null 2>&1
# 128 colours keep the file small; the charts are flat colours.
.venv/bin/python -c "
from PIL import Image
Image.open('$output').convert('RGB').quantize(colors=128).save('$output', optimize=True)"
echo "$output"
