#!/usr/bin/env bash
# Network Slimming for MobileNetV2 width 1.0 (issue 17's static competitor at the shipped width):
# the 12-epoch schedule with --bn-l1 1e-4, slim by batch-norm scale to the instance-wise point's
# MACs, fine-tune 4 epochs. Resume with the same script (every step skips what exists).
set -euo pipefail
cd /work/runs/ns
ISP=/work/runs/long/isp-c247314
TARGET=${TARGET:?set TARGET, the share of MACs kept (e.g. 0.752 for 24.8% fewer)}
M=ns-w1.safetensors
if [ ! -f $M.done ]; then
  if [ -f $M ]; then R="--resume"; else R="--model mobilenetv2 --width 1 --bn-l1 1e-4"; fi
  taskset -c ${CPUS:-0,1} $ISP train $R --epochs 12 --train-limit 55000 --seed 1 --out $M --log-every 100
  touch $M.done
fi
S=ns-w1-slim-$TARGET.safetensors
[ -f $S ] || $ISP slim $M --by bn-scale --macs-target $TARGET --out $S
F=ns-w1-slim-$TARGET-ft.safetensors
if [ -f $F ]; then R="--resume"; else R="--init $S"; fi
taskset -c ${CPUS:-0,1} $ISP train $R --epochs 4 --seed 1 --train-limit 55000 --out $F --log-every 100
echo DONE
