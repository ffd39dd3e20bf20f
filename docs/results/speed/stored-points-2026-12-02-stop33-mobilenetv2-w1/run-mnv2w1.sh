#!/usr/bin/env bash
# MobileNetV2 width 1.0, lambda 1e-3 on the 16 expanded maps, 12 epochs, core 1 (stop 32; resume with the same script).
set -euo pipefail
cd /work/runs/long
ISP=./isp-bfaedc7
M=mnv2-w1-l1e-3-expanded.safetensors
L=$(for i in $(seq 2 17); do printf 'features.%d.conv.1.0,' $i; done | sed 's/,$//')
if [ -f $M ]; then R="--resume"; else R="--model mobilenetv2 --width 1 --feature-decay 1e-3 --decay-layers $L"; fi
taskset -c 1 $ISP train $R --epochs 12 --train-limit 55000 --seed 1 --out $M --log-every 100
taskset -c 1 $ISP tune $M --out mnv2-w1-l1e-3-expanded-tuned.safetensors --images 5000 --layers all --json > tune-mnv2-w1-l1e-3-expanded.json
echo TUNED
