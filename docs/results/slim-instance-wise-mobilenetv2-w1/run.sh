#!/usr/bin/env bash
# Slim + instance-wise for MobileNetV2 w1.0 (issue 17): the Network Slimming model slimmed to 0.752
# of the MACs, fine-tuned 4 epochs as NS's own fine-tune (same seed, lr, warm-up) but with feature
# decay LAMBDA on the 16 expanded maps; then tune on the 5,000 held-out training images.
# Usage: LAMBDA=3e-4 CPUS=0 bash run.sh   (resume: the same command)
set -euo pipefail
cd /work/runs/nsfd
ISP=./isp-f6a8b2e
L=${LAMBDA:?}
M=nsfd-$L.safetensors
D=$(for i in $(seq 2 17); do printf 'features.%d.conv.1.0,' $i; done | sed 's/,$//')
if [ -f $M ]; then R="--resume"; else R="--init /work/runs/ns/ns-w1-slim-0.752.safetensors --feature-decay $L --decay-layers $D"; fi
taskset -c ${CPUS:-0,1} $ISP train $R --epochs 4 --seed 1 --train-limit 55000 --out $M --log-every 100
taskset -c ${CPUS:-0,1} $ISP tune $M --out nsfd-$L-tuned.safetensors --images 5000 --layers all --json > tune-$L.json
echo TUNED
