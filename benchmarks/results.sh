#!/usr/bin/env bash
# Reproduces the figures of docs/RESULTS.md for one feature-decay model.
# Usage: benchmarks/results.sh MODEL OUTDIR POLICY ALPHA
set -euo pipefail
model=$1 out=$2 policy=${3:-mean} alpha=${4:-0.5}
isp=.build/release/isp
mkdir -p "$out"
"$isp" info "$model" --json > "$out/info.json"
"$isp" eval "$model" --json > "$out/eval-dense.json"
"$isp" analyze "$model" --json > "$out/analyze.json"
"$isp" analyze "$model"
# Operating point chosen on training images (never the test split):
"$isp" sweep "$model" --on train --test-limit 2000 --policies "$policy" --out "$out/tune-on-train" --json > /dev/null
"$isp" eval "$model" --prune "$policy" --alpha "$alpha" --layers auto --json > "$out/operating-point.json"
"$isp" eval "$model" --prune "$policy" --alpha "$alpha" --layers auto
# Sweeps on the first 2000 test images: policies at CV-selected layers, and layer choices for `mean`.
"$isp" sweep "$model" --layers auto --test-limit 2000 --out "$out/sweep-auto" --prune "$policy" --alpha "$alpha" --json > /dev/null
"$isp" sweep "$model" --layers all --policies mean,static-topk --test-limit 2000 --out "$out/sweep-all" --json > /dev/null
"$isp" sweep "$model" --layers lowest-cv --policies mean --test-limit 2000 --out "$out/sweep-lowest-cv" --json > /dev/null
python3 benchmarks/ablations.py policies "$out/sweep-auto/sweep.json" --targets 20,30,40,50
python3 benchmarks/ablations.py layers "auto=$out/sweep-auto/sweep.json" "all=$out/sweep-all/sweep.json" \
    "lowest-cv=$out/sweep-lowest-cv/sweep.json" --targets 10,20,30,40
