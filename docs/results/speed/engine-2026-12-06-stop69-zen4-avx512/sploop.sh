#!/bin/bash
# Alternates isp eval --prune stored of two binaries (and both ISAs), labelled by the vCPU round trip.
# sploop.sh OUT SECONDS MODEL BIN_A BIN_B (from the repository; the round trip from /tmp/pp:
#   gcc -O2 -pthread benchmarks/pingpong.c -o /tmp/pp)
out=$1; secs=$2; model=$3; shift 3
end=$((SECONDS + secs)); n=0
while [ $SECONDS -lt $end ]; do
  for isa in avx512 avx2; do
    for b in "$@"; do
      rt=$(/tmp/pp | awk '{print $3}')
      ISP_ISA=$isa $b eval $model --prune stored --latency-images 1000 --json 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin); print(json.dumps({'bin': '$b', 'isa': '$isa', 'rt': $rt, 'n': $n, 'speedup': d['speedup'], 'of_ideal': d['speedup_over_ideal'], 'dense': d['latency_ms_dense'], 'pruned': d['latency_ms_sparse'], 'acc': d['accuracy_pruned']}))" >> $out/runs.jsonl
    done
  done
  n=$((n+1))
done
