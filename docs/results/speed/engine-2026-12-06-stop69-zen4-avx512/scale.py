import json, subprocess, sys, os, collections
# scale.py MODEL ROUNDS [args], from the repository: per-step minima over rounds, one core vs two; prints t1, t2, t1/t2
model = sys.argv[1]; rounds = int(sys.argv[2]); extra = sys.argv[3:]
best = {"0": collections.OrderedDict(), "0,1": collections.OrderedDict()}; tot = {"0": [], "0,1": []}
for r in range(rounds):
    for c in ("0", "0,1"):
        out = subprocess.run(["taskset", "-c", c, ".build/release/isp", "bench", model, "--runs", "400", "--no-train", "--profile", "--json"] + extra,
                             capture_output=True, text=True).stdout
        d = json.loads(out); tot[c].append(d["latency_ms_median"]); seen = collections.Counter()
        for s in d["profile_ms"]:
            k = s["step"]; seen[k] += 1; k = f"{k}#{seen[k]}" if seen[k] > 1 else k
            best[c][k] = min(best[c].get(k, 1e9), s["ms"] * 1000)
a, b = best["0"], best["0,1"]
print("medians one", tot["0"], "two", tot["0,1"])
print("sum of min steps one %.1f two %.1f" % (sum(a.values()), sum(b.values())))
for k in a: print("%-28s %7.1f %7.1f %5.2f" % (k, a[k], b[k], a[k] / max(b[k], 1e-9)))
