#!/usr/bin/env bash
# The engine's standing against its peers (issues 15 and 18): batch-1 latency isp / ONNX Runtime
# (median of alternating rounds) for the three networks at width 0.5 on 32x32 inputs and for
# torchvision's resnet18 and mobilenet_v2 at 224x224, and training isp / PyTorch at batch 128 for
# the 32x32 ones; once with the best instruction set the CPU has, and on an AVX-512 machine twice
# more: `avx2` with ISP_ISA=avx2 (isp's kernels and OpenBLAS as on an AVX2-only machine; ONNX
# Runtime and PyTorch unchanged), and `avx2-all` with every engine on its AVX2 kernels, the
# comparison of an AVX2-only machine: ONNX Runtime through benchmarks/ort_avx2.py (a copy whose
# cpuid answers without AVX-512), PyTorch through ATEN_CPU_CAPABILITY=avx2 and ONEDNN_MAX_CPU_ISA.
# Latency twice: separate runs of each engine in alternating rounds, and both engines' passes
# interleaved in short blocks in one run (`peers.py --interleave`, the fair figure where the
# machine's speed drifts: separate rounds of one network ranged 0.84-1.37 on one Zen 3 VM in an
# hour, stop 51). Each round and each interleaved run records where the VM put its vCPUs
# (benchmarks/placement.py), since isp's ratio moves with it (stop 84).
# Needs the peers' venv (benchmarks/README.md). About 20 minutes on 2 cores; the cores must be free.
#   benchmarks/engine_ratios.sh OUT_DIR [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/engine_ratios.sh OUT_DIR [ROUNDS]}
rounds=${2:-3}
py=${PYTHON:-/work/venv/bin/python}
mkdir -p "$out"
{ date -u; grep -m1 "model name" /proc/cpuinfo; grep -o -m1 avx512f /proc/cpuinfo || echo "no avx512f (AVX2)"; nproc; git rev-parse --short HEAD; } > "$out/machine.txt"
isas=(native)
grep -q avx512f /proc/cpuinfo && isas+=(avx2 avx2-all)
for isa in "${isas[@]}"; do
    env=()
    case $isa in
    avx2) env=(ISP_ISA=avx2) ;;
    avx2-all) env=(ISP_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
                   $(python3 benchmarks/ort_avx2.py "${ORT_AVX2_DIR:-/tmp/ort-avx2}" --python "$py" --env))
              echo "avx2-all: ${env[*]}" >> "$out/machine.txt" ;;
    esac
    for arch in vgg16 resnet18 mobilenetv2; do
        env "${env[@]}" "$py" benchmarks/peers.py --arch "$arch" --width 0.5 --isp .build/release/isp --rounds "$rounds" \
            --runs 300 --train --train-steps 10 --interleave 20 --json > "$out/$isa-$arch-w0.5-32.json"
    done
    for arch in resnet18 mobilenetv2; do
        env "${env[@]}" "$py" benchmarks/peers.py --arch "$arch" --input-size 224 --in-channels 3 --classes 1000 \
            --isp .build/release/isp --rounds "$rounds" --runs 200 --warmup 20 --interleave 10 --json > "$out/$isa-$arch-224.json"
    done
done
"$py" - "$out" <<'PY'
import json, sys, glob, os
rows = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    d = json.load(open(f))
    name = os.path.basename(f)[:-5]
    train = d.get("train", {}).get("median_ratio_isp_vs_torch")
    inter = d.get("interleaved", {})
    trips = lambda t: "" if t is None else "%.0f/%.0f" % tuple(t)  # placement.py: before/after, ns
    placed = ", ".join(trips(r.get("round_trip_ns")) for r in d.get("rounds", [])) + "; " + trips(inter.get("round_trip_ns"))
    placed = placed if any(ch.isdigit() for ch in placed) else "-"  # runs from before stop 84 have none
    rows.append((name, d.get("median_ratio_isp_vs_onnxruntime"), inter.get("ratio_isp_vs_onnxruntime"),
                 inter.get("block_ratio_quartiles"), train, placed))
with open(os.path.join(sys.argv[1], "summary.md"), "w") as s:
    s.write("| run | batch-1 isp / ONNX Runtime, separate rounds (median) | interleaved (per-block quartiles) | training isp / PyTorch (above 1 is faster) | vCPU round trips before/after, ns: rounds; interleaved |\n|---|---|---|---|---|\n")
    for name, lat, inter, q, train, placed in rows:
        spread = "" if q is None else f" ({q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f})"
        s.write(f"| {name} | {lat:.2f} | {'-' if inter is None else f'{inter:.2f}'}{spread} | {'' if train is None else f'{train:.2f}'} | {placed} |\n")
print(open(os.path.join(sys.argv[1], "summary.md")).read())
PY
