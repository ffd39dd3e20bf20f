#!/usr/bin/env bash
# The engine's standing against its peers (issues 15 and 18): batch-1 latency isp / ONNX Runtime
# (median of alternating rounds) for the three networks at width 0.5 on 32x32 inputs and for
# torchvision's resnet18 and mobilenet_v2 at 224x224, and training isp / PyTorch at batch 128 for
# the 32x32 ones; once with the best instruction set the CPU has and once with ISP_ISA=avx2 (isp's
# kernels and OpenBLAS as on an AVX2-only machine; ONNX Runtime and PyTorch unchanged).
# Needs the peers' venv (benchmarks/README.md). About 25 minutes on 2 cores; the cores must be free.
#   benchmarks/engine_ratios.sh OUT_DIR [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/engine_ratios.sh OUT_DIR [ROUNDS]}
rounds=${2:-3}
py=${PYTHON:-/work/venv/bin/python}
mkdir -p "$out"
{ date -u; grep -m1 "model name" /proc/cpuinfo; grep -o -m1 avx512f /proc/cpuinfo || echo "no avx512f (AVX2)"; nproc; git rev-parse --short HEAD; } > "$out/machine.txt"
isas=(native)
grep -q avx512f /proc/cpuinfo && isas+=(avx2)
for isa in "${isas[@]}"; do
    env=(); [ "$isa" = avx2 ] && env=(ISP_ISA=avx2)
    for arch in vgg16 resnet18 mobilenetv2; do
        env "${env[@]}" "$py" benchmarks/peers.py --arch "$arch" --width 0.5 --isp .build/release/isp --rounds "$rounds" \
            --runs 300 --train --train-steps 10 --json > "$out/$isa-$arch-w0.5-32.json"
    done
    for arch in resnet18 mobilenetv2; do
        env "${env[@]}" "$py" benchmarks/peers.py --arch "$arch" --input-size 224 --in-channels 3 --classes 1000 \
            --isp .build/release/isp --rounds "$rounds" --runs 200 --warmup 20 --json > "$out/$isa-$arch-224.json"
    done
done
"$py" - "$out" <<'PY'
import json, sys, glob, os
rows = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    d = json.load(open(f))
    name = os.path.basename(f)[:-5]
    train = d.get("train", {}).get("median_ratio_isp_vs_torch")
    rows.append((name, d.get("median_ratio_isp_vs_onnxruntime"), train))
with open(os.path.join(sys.argv[1], "summary.md"), "w") as s:
    s.write("| run | batch-1 isp / ONNX Runtime (median of rounds; below 1 is faster) | training isp / PyTorch (above 1 is faster) |\n|---|---|---|\n")
    for name, lat, train in rows:
        s.write(f"| {name} | {lat:.2f} | {'' if train is None else f'{train:.2f}'} |\n")
print(open(os.path.join(sys.argv[1], "summary.md")).read())
PY
