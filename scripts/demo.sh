#!/usr/bin/env bash
# The README's main job: the pruning demo on the shipped model, or on a quickly trained one
# when no model has been shipped yet.
set -euo pipefail
cd "$(dirname "$0")/.."
isp=.build/release/isp
model=models/vgg16-fd.safetensors
if [ ! -f "$model" ]; then
    model=report/quick-vgg16.safetensors
    mkdir -p report
    echo "no shipped model at models/vgg16-fd.safetensors; training a quick one (1 epoch on 10000 images)"
    "$isp" train --model vgg16 --width 0.5 --epochs 1 --train-limit 10000 --feature-decay 1e-3 --out "$model" --force
    # The shipped model's operating point, stated rather than assumed for another model.
    exec "$isp" demo "$model" --out report --prune max --alpha 0.1 --layers all
fi
"$isp" demo --out report
