#!/usr/bin/env bash
# Every figure of docs/RESULTS.md for one feature-decay model, from scratch:
#   scripts/results.sh MODEL OUTDIR
# The ablation tables compare accuracies at FLOPs reductions POLICY_TARGETS (default 40,50,60) and
# LAYER_TARGETS (default 20,30,40,50), in percent; networks that prune less need lower ones.
# 1. The operating point is chosen on the last 2000 *training* images (largest FLOPs reduction
#    within 0.5 points of dense), never on the test split.
# 2. `isp demo` at that point: dense vs pruned on all 10000 test images, CV per layer, sweep of
#    every policy (incl. static-topk) on the first 1000 test images.
# 3. Layer ablation: the chosen policy at the CV-selected, all, and lowest-CV maps.
set -euo pipefail
# Paths as given, relative to where the script was started (it then works from the repository).
model=$(realpath "$1") out=$(realpath -m "$2")
cd "$(dirname "$0")/.."
isp=${ISP:-.build/release/isp}  # ISP: another build of isp
mkdir -p "$out"
"$isp" sweep "$model" --on train --test-limit 2000 --layers all --out "$out/tune-all"
read -r policy alpha < <(python3 benchmarks/ablations.py choose "$out/tune-all/sweep.json")
echo "operating point (chosen on training images, all maps): $policy $alpha"
"$isp" demo "$model" --out "$out" --prune "$policy" --alpha "$alpha" --layers all | tee "$out/demo.txt"
for layers in auto all lowest-cv; do
    "$isp" sweep "$model" --test-limit 1000 --layers $layers --policies "$policy" --out "$out/layers-$layers"
done
python3 benchmarks/ablations.py policies "$out/sweep.json" --targets "${POLICY_TARGETS:-40,50,60}" > "$out/ablation-policies.md"
python3 benchmarks/ablations.py layers "CV-selected=$out/layers-auto/sweep.json" "all=$out/layers-all/sweep.json" \
    "lowest-CV=$out/layers-lowest-cv/sweep.json" --policy "$policy" --targets "${LAYER_TARGETS:-20,30,40,50}" > "$out/ablation-layers.md"
cat "$out/ablation-policies.md" "$out/ablation-layers.md"
