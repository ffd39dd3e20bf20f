#!/usr/bin/env bash
# Fine-tune the shipped MobileNetV2 w1.0 (lambda 3e-4 both) with a larger lambda on the 16 expanded
# maps only: run-ft.sh LAMBDA EPOCHS LR (resume with the same arguments).
set -euo pipefail
cd /work/runs/ft
ISP=/work/runs/long/isp-c247314
L=$(for i in $(seq 2 17); do printf 'features.%d.conv.1.0,' $i; done | sed 's/,$//')
M=ft-l$1-e$2-lr$3.safetensors
if [ -f $M ]; then R="--resume"; else R="--init base.safetensors --feature-decay $1 --decay-layers $L --lr $3 --warmup 0.25"; fi
taskset -c ${CPUS:-0,1} $ISP train $R --epochs $2 --train-limit 55000 --seed 2 --out $M --log-every 100
taskset -c ${CPUS:-0,1} $ISP tune $M --out ${M%.safetensors}-tuned.safetensors --images 5000 --layers all --policies max,mean > tune-${M%.safetensors}.txt
echo TUNED
