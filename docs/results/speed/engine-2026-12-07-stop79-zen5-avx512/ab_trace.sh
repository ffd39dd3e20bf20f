#!/usr/bin/env bash
# isp cc712a6 (A) against cc712a6 + leave_caller (B), both built with a per-pass trace on stderr
# (trace_patch.py): MobileNetV2 w0.5 interleaved with ONNX Runtime (peers.py --interleave 20),
# A/B then B/A, 6 pairs; counts each process's slow passes on two cores.
cd /work/main
printf '#!/bin/sh\nexec /tmp/old/.build/release/isp "$@" 2>>/tmp/stop79/trace-A-$REP.txt\n' > /tmp/A-trace
printf '#!/bin/sh\nexec /work/main/.build/release/isp "$@" 2>>/tmp/stop79/trace-B-$REP.txt\n' > /tmp/B-trace
chmod +x /tmp/A-trace /tmp/B-trace
for rep in 1 2 3 4 5 6; do
  order="A B"; [ $((rep % 2)) = 0 ] && order="B A"
  for v in $order; do
    rm -f /tmp/stop79/trace-$v-$rep.txt
    REP=$rep TRACE_SPLIT=1 env -u OPENBLAS_CORETYPE /work/venv/bin/python benchmarks/peers.py --arch mobilenetv2 --width 0.5 --isp /tmp/$v-trace --rounds 1 --runs 300 --interleave 20 --json 2>/dev/null > /tmp/stop79/trace-$v-$rep.json
    /work/venv/bin/python -c "
import json; d=json.load(open('/tmp/stop79/trace-$v-$rep.json')); i=d['interleaved']; r=d['rounds'][0]
print('$(date -u +%H:%M:%S) $v pair $rep', 'separate: ort %.3f isp %.3f (one core %.2f)' % (r['onnxruntime_ms'], r['isp_ms'], r['isp_passes_on_one_core']), '| interleaved: ort %.3f isp %.3f ratio %.3f' % (i['onnxruntime_ms_median'], i['isp_ms_median'], i['ratio_isp_vs_onnxruntime']), 'block quartiles', [round(x, 2) for x in i['block_ratio_quartiles']], 'one core %.2f' % i['isp_passes_on_one_core'])"
    awk '/^split P/{p++; if($3>=2000) s++; if($3>=320 && $3<2000) m++} /^split 1/{o++} END{printf "  trace: passes split %d, of them >= 2 ms %d, 320 us - 2 ms %d; on one core %d\n", p, s, m, o}' /tmp/stop79/trace-$v-$rep.txt
  done
  /tmp/vcpu_probe 0.2 | tail -1
done
