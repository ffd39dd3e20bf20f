# The k-th pass of each block, isp against ONNX Runtime (stop 51): MODEL=... python block-position.py [--always-split]
import sys, time, statistics, torch
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../benchmarks"))
MODEL = os.environ["MODEL"]  # MobileNetV2 w0.5 random weights: peers.py leaves /tmp/peers-*/model.safetensors
ISP = os.environ.get("ISP", ".build/release/isp")
from interleave import PassServer, timed_passes
from peers import onnxruntime_session
from torch_models import build
from convert import randomize_bn
torch.set_num_threads(2)
torch.manual_seed(0)
m = build("mobilenetv2", 0.5, 1, 10, "cifar"); randomize_bn(m); m.eval()
x = torch.randn(1, 1, 32, 32)
import os; T=int(os.environ.get("T","2")); run, _ = onnxruntime_session(m, x, T)
s = PassServer(ISP, [MODEL, "--random-inputs"] + sys.argv[1:])
ort = timed_passes(run)
B=40
pos = {"ort": [[] for _ in range(B)], "isp": [[] for _ in range(B)]}
for i in range(30):
    for name, f in (("ort", ort), ("isp", s.passes)) if i % 2 else (("isp", s.passes), ("ort", ort)):
        time.sleep(0.02)
        for j, t in enumerate(f(B)): pos[name][j].append(t)
for name in pos:
    print(name, " ".join("%.2f" % statistics.median(p) for p in pos[name]))
