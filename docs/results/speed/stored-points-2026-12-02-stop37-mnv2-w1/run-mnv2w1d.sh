#!/usr/bin/env bash
# MobileNetV2 width 1.0, lambda 3e-4 on the 16 block inputs and the 16 expanded maps, 12 epochs,
# two cores (stop 37; resume with the same script).
set -euo pipefail
cd /work/runs/long
ISP=./isp-c247314
M=mnv2-w1-l3e-4-both.safetensors
L=$(for i in $(seq 2 17); do printf 'features.%d.conv.0.0,features.%d.conv.1.0,' $i $i; done | sed 's/,$//')
if [ -f $M ]; then R="--resume"; else R="--model mobilenetv2 --width 1 --feature-decay 3e-4 --decay-layers $L"; fi
taskset -c ${CPUS:-0,1} $ISP train $R --epochs 12 --train-limit 55000 --seed 1 --out $M --log-every 100
taskset -c ${CPUS:-0,1} $ISP tune $M --out mnv2-w1-l3e-4-both-tuned.safetensors --images 5000 --layers all --json > tune-mnv2-w1-l3e-4-both.json
echo TUNED
