#!/usr/bin/env bash
# isp cc712a6 (a) against cc712a6 + SpinPool's leave_caller (b), passes alternating in blocks (interleave.py),
# the shipped models dense and at their stored points.
cd /work/main
for rep in 1 2; do
  for m in vgg16 resnet18 mobilenetv2; do
    for prune in "" "--prune stored"; do
      echo "$(date -u +%H:%M:%S) $m ${prune:-dense} rep $rep: $(/tmp/vcpu_probe 0.2 | tail -1 | grep -o 'round trip [0-9]* ns')"
      env -u OPENBLAS_CORETYPE python3 benchmarks/interleave.py /tmp/old/.build/release/isp .build/release/isp --blocks 30 --block 20 -- models/$m-fd.safetensors --random-inputs $prune 2>/dev/null | tail -4
    done
  done
done
