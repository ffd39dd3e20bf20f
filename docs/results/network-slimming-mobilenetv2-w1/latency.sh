#!/usr/bin/env bash
# Batch-1 latency, two cores, alternating: NS slimmed+FT vs instance-wise shipped (stored point, dense)
ISP=/work/main/.build/release/isp
med() { python3 -c "import json,sys; print(round(json.load(sys.stdin)['latency_ms_median'],3))"; }
for r in 1 2 3; do
  a=$($ISP bench /work/runs/ns/ns-w1-slim-0.752-ft.safetensors --no-train --runs 2000 --json 2>/dev/null | med)
  b=$($ISP bench /work/main/models/mobilenetv2-fd.safetensors --prune stored --no-train --runs 2000 --json 2>/dev/null | med)
  c=$($ISP bench /work/main/models/mobilenetv2-fd.safetensors --no-train --runs 2000 --json 2>/dev/null | med)
  echo "round $r NS-0.752-ft $a  iw-stored $b  iw-dense $c"
done
