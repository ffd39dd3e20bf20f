# farclose.py SECONDS ONNX ISP_MODEL [isp bench args]: ONNX Runtime and isp passes alternating, each run labelled by the
# vCPU round trip before and after it (far > 250 ns), medians per placement
import subprocess, sys, time, statistics, json, os
seconds, onnx, model = float(sys.argv[1]), sys.argv[2], sys.argv[3]
extra = sys.argv[4:]
here = os.path.dirname(os.path.abspath(__file__))
def rt(): return int(subprocess.run(["/tmp/pp"], capture_output=True, text=True).stdout.strip().split("\n")[-1].split()[2])
res = {("ort", "close"): [], ("ort", "far"): [], ("isp", "close"): [], ("isp", "far"): []}
end, k = time.time() + seconds, 0
while time.time() < end:
    eng = ("ort", "isp")[k % 2]; k += 1
    t0 = rt()
    if eng == "ort":
        out = subprocess.run(["/work/venv/bin/python", os.path.join(here, "ortt.py"), onnx, "60"], capture_output=True, text=True).stdout
        ms = float(out.split()[0])
    else:
        out = subprocess.run(["/work/main/.build/release/isp", "bench", model, "--runs", "60", "--no-train", "--json"] + extra, capture_output=True, text=True).stdout
        ms = json.loads(out)["latency_ms_median"]
    t1 = rt()
    if (t0 > 250) == (t1 > 250): res[eng, "far" if t0 > 250 else "close"].append(ms)
for k, v in res.items():
    if v: print("%-4s %-5s n=%2d median %.3f ms (min %.3f, max %.3f)" % (k[0], k[1], len(v), statistics.median(v), min(v), max(v)))
