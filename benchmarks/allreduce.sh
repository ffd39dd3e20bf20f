#!/usr/bin/env bash
# Localhost MPI_Allreduce time and bandwidth for the gradients of the three networks (their
# parameter counts from `isp info`, width 0.5 and 1, 1 input channel, 10 classes, cifar stem),
# as `isp train` under mpirun sums them once per step. Usage: benchmarks/allreduce.sh [N processes]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
isp=${ISP:-$root/.build/release/isp}
np=${1:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpicc -O2 -o "$work/allreduce" "$root/benchmarks/allreduce.c"
sizes=()
for model in vgg16 resnet18 mobilenetv2; do
    for width in 0.5 1; do
        count=$("$isp" info --model "$model" --width "$width" --input-size 32 --input-channels 1 --classes 10 --stem cifar 2>/dev/null |
                sed -n 's/^total: [^(]*(\([0-9]*\)),.*/\1/p')
        sizes+=("$model-w$width" "$count")
    done
done
launcher=(mpirun -np "$np")
[ "$(id -u)" = 0 ] && launcher+=(--allow-run-as-root)
"${launcher[@]}" "$work/allreduce" "${sizes[@]}"
