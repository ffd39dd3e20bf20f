#!/usr/bin/env bash
# Batch-1 latency, two cores, alternating (isp bench --no-train --runs 2000): full w1.0 dense, NS 0.752 FT,
# slim + instance-wise (lambda 1e-4 and 3e-4) dense and at their stored points, shipped instance-wise at its stored point.
ISP="taskset -c ${CPUS:-0,1} /work/main/.build/release/isp"
med() { python3 -c "import json,sys; print(round(json.load(sys.stdin)['latency_ms_median'],3))"; }
b() { $ISP bench "$@" --no-train --runs 2000 --json 2>/dev/null | med; }
for r in 1 2 3; do
  echo "round $r full-dense $(b /work/main/models/mobilenetv2-fd.safetensors) NS-ft $(b /work/runs/ns/ns-w1-slim-0.752-ft.safetensors)" \
       "sfd1e-4-dense $(b /work/runs/nsfd/nsfd-1e-4-tuned.safetensors) sfd1e-4-stored $(b /work/runs/nsfd/nsfd-1e-4-tuned.safetensors --prune stored)" \
       "sfd3e-4-stored $(b /work/runs/nsfd/nsfd-3e-4-tuned.safetensors --prune stored) iw-stored $(b /work/main/models/mobilenetv2-fd.safetensors --prune stored)"
done
