#!/usr/bin/env bash
# Models at their stored operating points (issue 17): accuracy dense and pruned on the test split,
# MACs saved, batch-1 latency dense and pruned (`isp eval MODEL --prune stored --latency-images N
# --json`, which alternates dense and pruned in blocks of 25 images), with the best instruction set
# and, on an AVX-512 machine, with ISP_ISA=avx2. Writes one JSON per model and ISA, machine.txt and
# summary.md. The cores must be free.
# Each run is labelled with the cache-line round trip between the two vCPUs before and after it
# (benchmarks/pingpong.c): these VMs place them close (50-140 ns) or far apart (320-480 ns) for
# minutes at a time, and the pruned passes gain nothing from their second core in the far
# placement (stop 62, VGG16: 0.51 ms on two cores, 0.50-0.52 on one, dense 0.73 and 0.96-1.03), so
# VGG16 reads 0.67-0.68 of ideal there against 0.84-0.87 close, ResNet-18 1.28-1.29x against 1.54-1.55x.
#   benchmarks/stored_points.sh OUT_DIR MODEL...
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/stored_points.sh OUT_DIR MODEL...}
shift
[ $# -gt 0 ] || { echo "benchmarks/stored_points.sh: no MODEL given" >&2; exit 2; }
isp=.build/release/isp
mkdir -p "$out"
pingpong=$(mktemp -d)/pingpong
gcc -O2 -pthread benchmarks/pingpong.c -o "$pingpong"
round_trip() { "$pingpong" | awk '{print $3}'; }
{ date -u; grep -m1 "model name" /proc/cpuinfo; grep -o -m1 avx512f /proc/cpuinfo || echo "no avx512f (AVX2)"; nproc; git rev-parse --short HEAD; } > "$out/machine.txt"
isas=(native)
grep -q avx512f /proc/cpuinfo && isas+=(avx2)
for model in "$@"; do
    name=$(basename "$model" .safetensors)
    for isa in "${isas[@]}"; do
        env=(); [ "$isa" = avx2 ] && env=(ISP_ISA=avx2)
        before=$(round_trip)
        env "${env[@]}" "$isp" eval "$model" --prune stored --latency-images 1000 --json > "$out/$isa-$name.run"
        after=$(round_trip)
        python3 - "$out/$isa-$name.run" "$before" "$after" > "$out/$isa-$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["vcpu_round_trip_ns_before"], d["vcpu_round_trip_ns_after"] = int(sys.argv[2]), int(sys.argv[3])
print(json.dumps(d, indent=1))
PY
        rm "$out/$isa-$name.run"
    done
done
python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    isa, name = os.path.basename(f)[:-5].split("-", 1)
    rows.setdefault(name, {})[isa] = json.load(open(f))
def cell(d):
    if d is None:
        return ""
    return (f"{d['latency_ms_dense']:.3f} -> {d['latency_ms_sparse']:.3f} ms, "
            f"{d['speedup']:.2f}x, {d['speedup_over_ideal']:.2f} of ideal "
            f"(vCPU round trip {d['vcpu_round_trip_ns_before']}/{d['vcpu_round_trip_ns_after']} ns)")
with open(os.path.join(out, "summary.md"), "w") as s:
    s.write("| model | accuracy dense -> pruned | MACs saved | ideal | best ISA: dense -> pruned, speedup | ISP_ISA=avx2 |\n")
    s.write("|---|---|---|---|---|---|\n")
    for name, by in rows.items():
        d = by["native"]
        s.write(f"| {name} | {100 * d['accuracy_dense']:.2f}% -> {100 * d['accuracy_pruned']:.2f}% | "
                f"{100 * d['flops_reduction']:.1f}% | {d['ideal_speedup']:.2f}x | {cell(d)} | {cell(by.get('avx2'))} |\n")
print(open(os.path.join(out, "summary.md")).read())
PY
