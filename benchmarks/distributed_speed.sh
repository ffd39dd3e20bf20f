#!/usr/bin/env bash
# Data-parallel training speed on this machine: `mpirun -np 2 isp train` (2 processes, 1 core
# each: Open MPI binds each to a core) against `isp train` (1 process, threads on both cores), for
# VGG16, ResNet-18 and MobileNetV2 at width 0.5 on Fashion-MNIST (32x32 as the IDX reader pads it).
# The two run alternately, ROUNDS times per network, so drift of a shared machine moves both;
# each run prints its training images/s and, with 2 processes, the allreduce time per step (the
# JSON summary's `images_per_s`, `allreduce_ms_per_step`, over STEPS steps of BATCH images).
#
# Usage: benchmarks/distributed_speed.sh [ROUNDS] [STEPS] [BATCH]   (defaults 2, 150, 64)
# PAUSE=REGEX stops the processes whose command line matches REGEX (pkill -STOP -f) during each
# pair of runs and continues them after it, also on exit or interruption. Write it so that it does
# not match itself, e.g. PAUSE='my-jo[b]', or it stops the shell that starts this script.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
isp=${ISP:-$root/.build/release/isp}
rounds=${1:-2} steps=${2:-150} batch=${3:-64}
work=$(mktemp -d)
resume() { if [ -n "${PAUSE:-}" ]; then pkill -CONT -f "$PAUSE" || true; fi; }
trap 'resume; rm -rf "$work"' EXIT
launcher=(mpirun -np 2)
[ "$(id -u)" = 0 ] && launcher+=(--allow-run-as-root)
field() { sed -n "s/^ *\"$1\" : \\([0-9.e+-]*\\),*$/\\1/p" "$2"; }
echo "date $(date -u +%FT%TZ), ISA $(grep -q -m1 avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2), $(nproc) cores"
for model in vgg16 resnet18 mobilenetv2; do
    run=(train --model "$model" --width 0.5 --batch-size "$batch" --epochs 1 --train-limit $((steps * batch))
         --test-limit 64 --log-every 1000000 --json --force)
    for round in $(seq "$rounds"); do
        if [ -n "${PAUSE:-}" ]; then pkill -STOP -f "$PAUSE" || true; fi
        "$isp" "${run[@]}" --out "$work/one.safetensors" > "$work/one.json" 2> "$work/one.log"
        "${launcher[@]}" "$isp" "${run[@]}" --out "$work/two.safetensors" > "$work/two.json" 2> "$work/two.log"
        resume
        one=$(field images_per_s "$work/one.json") two=$(field images_per_s "$work/two.json")
        printf "%-12s round %d: 1 process x 2 threads %6.1f img/s, 2 processes x 1 thread %6.1f img/s (allreduce %.1f ms/step of %d MB): ratio %.3f\n" \
            "$model" "$round" "$one" "$two" "$(field allreduce_ms_per_step "$work/two.json")" \
            "$(( $(field allreduce_bytes_per_step "$work/two.json") / 1000000 ))" "$(echo "$two / $one" | bc -l)"
    done
done
