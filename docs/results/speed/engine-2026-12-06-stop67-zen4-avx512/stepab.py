# stepab.py MODEL SECONDS BIN_A BIN_B [--dense]: per-step minima of `isp bench --profile`, A and B alternating,
# each run labelled by the vCPU placement around it (pingpong > 250 ns = far; runs whose placement changed are dropped)
import json, subprocess, sys, collections, time
model, seconds, bins = sys.argv[1], float(sys.argv[2]), sys.argv[3:5]
prune = [] if "--dense" in sys.argv else ["--prune", "stored"]
best = {s: [collections.OrderedDict(), collections.OrderedDict()] for s in ("close", "far")}
count = collections.Counter()
def rt():
    return int(subprocess.run(["/tmp/pp"], capture_output=True, text=True).stdout.strip().split("\n")[-1].split()[2])
end, r = time.time() + seconds, 0
while time.time() < end:
    i = r % 2; r += 1
    t0 = rt()
    out = subprocess.run([bins[i], "bench", model, *prune, "--runs", "300", "--no-train", "--profile", "--json"], capture_output=True, text=True).stdout
    t1 = rt()
    if (t0 > 250) != (t1 > 250): continue
    state = "far" if t0 > 250 else "close"; count[state, i] += 1
    for s in json.loads(out)["profile_ms"]:
        d = best[state][i]; d[s["step"]] = min(d.get(s["step"], 1e9), s["ms"] * 1000)
for state in ("close", "far"):
    a, b = best[state]
    print(f"{state}: {count[state,0]},{count[state,1]} runs; sum {sum(a.values()):.1f} {sum(b.values()):.1f}")
    for k in (a or b):
        x, y = a.get(k, 0), b.get(k, 0)
        if x > 3 or y > 3: print("  %-28s %7.1f %7.1f %+6.1f" % (k, x, y, y - x))
