#!/usr/bin/env bash
# Batch-1 latency at 224x224 (ImageNet stems, torchvision's modules on the PyTorch side), isp
# against ONNX Runtime and PyTorch with the same random weights, alternating rounds.
# Dense, then the pruned path with a plan that keeps every channel of nonzero saliency
# (absolute threshold 0 at every gate): its overhead, since no trained ImageNet weights exist.
#   docs/results/speed/imagenet224/run.sh [OUT_DIR]   (default: this directory)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
out=${1:-docs/results/speed/imagenet224}
mkdir -p "$out"
py=${PYTHON:-/work/venv/bin/python}
common=(--input-size 224 --in-channels 3 --classes 1000 --isp .build/release/isp --rounds 5 --runs 200 --warmup 20)
{ date -u; grep -o -m1 avx512f /proc/cpuinfo || echo "no avx512f (AVX2)"; nproc; } > "$out/machine.txt"
for arch in resnet18 mobilenetv2; do
    "$py" benchmarks/peers.py --arch "$arch" "${common[@]}" > "$out/peers-$arch-dense.txt" 2>&1
    "$py" benchmarks/peers.py --arch "$arch" "${common[@]}" --prune absolute --alpha 0 --isp-args "--layers all" \
        > "$out/peers-$arch-keep-all.txt" 2>&1
done
