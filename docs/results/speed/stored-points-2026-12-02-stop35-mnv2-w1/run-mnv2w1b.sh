#!/usr/bin/env bash
# MobileNetV2 width 1.0, lambda 5e-4 on the 16 expanded maps, 12 epochs, core 0 (stop 32; resume with the same script).
set -euo pipefail
cd /work/runs/long
ISP=./isp-bfaedc7
M=mnv2-w1-l5e-4-expanded.safetensors
L=$(for i in $(seq 2 17); do printf 'features.%d.conv.1.0,' $i; done | sed 's/,$//')
if [ -f $M ]; then R="--resume"; else R="--model mobilenetv2 --width 1 --feature-decay 5e-4 --decay-layers $L"; fi
taskset -c ${CORE:-0} $ISP train $R --epochs 12 --train-limit 55000 --seed 1 --out $M --log-every 100
taskset -c ${CORE:-0} $ISP tune $M --out mnv2-w1-l5e-4-expanded-tuned.safetensors --images 5000 --layers all --json > tune-mnv2-w1-l5e-4-expanded.json
echo TUNED
