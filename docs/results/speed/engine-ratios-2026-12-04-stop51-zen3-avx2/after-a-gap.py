# The first pass after a pause, isp (choosing its split, and --always-split) against ONNX Runtime (stop 51): MODEL=... python after-a-gap.py 0.05
import sys, time, statistics, torch
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../benchmarks"))
MODEL = os.environ["MODEL"]  # MobileNetV2 w0.5 random weights: peers.py leaves /tmp/peers-*/model.safetensors
ISP = os.environ.get("ISP", ".build/release/isp")
from interleave import PassServer, timed_passes
from peers import onnxruntime_session
from torch_models import build
from convert import randomize_bn
torch.set_num_threads(2); torch.manual_seed(0)
m = build("mobilenetv2", 0.5, 1, 10, "cifar"); randomize_bn(m); m.eval()
run, _ = onnxruntime_session(m, torch.randn(1, 1, 32, 32), 2)
engines = {"ort": timed_passes(run),
           "isp": PassServer(ISP, [MODEL, "--random-inputs"]).passes,
           "isp-as": PassServer(ISP, [MODEL, "--random-inputs", "--always-split"]).passes}
gap = float(sys.argv[1]) if len(sys.argv) > 1 else 0.05
t = {k: [] for k in engines}
for i in range(150):
    for k, f in engines.items():
        time.sleep(gap); t[k] += f(1)
for k in t: print(k, "first pass after a %.0f ms gap: median %.3f ms, p90 %.3f" % (gap*1000, statistics.median(t[k]), statistics.quantiles(t[k], n=10)[-1]))
