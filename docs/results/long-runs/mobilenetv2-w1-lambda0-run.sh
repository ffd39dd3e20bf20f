#!/usr/bin/env bash
# MobileNetV2 width 1.0, lambda 0 (the twin of run-mnv2w1d.sh: same schedule, seed and images), 12 epochs,
# two cores (resume with the same script).
set -euo pipefail
cd /work/runs/long
ISP=./isp-c247314
M=mnv2-w1-l0.safetensors
if [ -f $M ]; then R="--resume"; else R="--model mobilenetv2 --width 1"; fi
taskset -c ${CPUS:-0,1} $ISP train $R --epochs 12 --train-limit 55000 --seed 1 --out $M --log-every 100
taskset -c ${CPUS:-0,1} $ISP tune $M --out mnv2-w1-l0-tuned.safetensors --images 5000 --layers all --json > tune-mnv2-w1-l0.json
echo TUNED
