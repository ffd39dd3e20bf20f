# hybrid.py ROUNDS [--dense]: VGG16's stored point (or dense) on two cores splitting only the steps whose input
# map has at least MINPIX pixels (ISP_EXP_MINPIX, an experiment binary /tmp/isp-exp), against all split and one
# core; each run labelled by the vCPUs' round trip right after it.
import json, os, subprocess, sys, collections
rounds = int(sys.argv[1]); dense = "--dense" in sys.argv
ways = [("all", "0", "0,1"), ("1024", "1024", "0,1"), ("256", "256", "0,1"), ("64", "64", "0,1"), ("one", "0", "0")]
res = collections.defaultdict(list)
for r in range(rounds):
    for name, mp, cores in ways:
        env = dict(os.environ, ISP_EXP_MINPIX=mp)
        args = ["taskset", "-c", cores, "/tmp/isp-exp", "bench", "/work/main/models/vgg16-fd.safetensors", "--runs", "600",
                "--no-train", "--always-split", "--json"] + ([] if dense else ["--prune", "stored"])
        d = json.loads(subprocess.run(args, env=env, capture_output=True, text=True).stdout)
        rt = int(subprocess.run(["/tmp/pp"], capture_output=True, text=True).stdout.split()[-2])
        res[(name, "far" if rt > 250 else "close")].append(d["latency_ms_median"])
        print(r, name, round(d["latency_ms_median"], 3), rt, flush=True)
for k in sorted(res):
    v = sorted(res[k]); print(k, len(v), "median %.3f" % v[len(v) // 2], "min %.3f" % v[0])
