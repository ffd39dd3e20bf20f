#!/usr/bin/env bash
# isp cc712a6 (A) against cc712a6 + leave_caller (B): MobileNetV2 w0.5 interleaved with ONNX Runtime
# (peers.py --interleave 20), A/B then B/A, 8 pairs.
cd /work/main
for rep in 1 2 3 4 5 6 7 8; do
  order="A B"; [ $((rep % 2)) = 0 ] && order="B A"
  for v in $order; do
    env -u OPENBLAS_CORETYPE /work/venv/bin/python benchmarks/peers.py --arch mobilenetv2 --width 0.5 --isp /tmp/$v-isp --rounds 1 --runs 300 --interleave 20 --json 2>/dev/null > /tmp/stop79/mnv2-$v-$rep.json
    /work/venv/bin/python -c "
import json; d=json.load(open('/tmp/stop79/mnv2-$v-$rep.json')); i=d['interleaved']; r=d['rounds'][0]
print('$(date -u +%H:%M:%S) $v pair $rep', 'separate: ort %.3f isp %.3f (one core %.2f)' % (r['onnxruntime_ms'], r['isp_ms'], r['isp_passes_on_one_core']), '| interleaved: ort %.3f isp %.3f ratio %.3f' % (i['onnxruntime_ms_median'], i['isp_ms_median'], i['ratio_isp_vs_onnxruntime']), 'block quartiles', [round(x, 2) for x in i['block_ratio_quartiles']], 'one core %.2f' % i['isp_passes_on_one_core'])"
  done
  /tmp/vcpu_probe 0.2 | tail -1
done
