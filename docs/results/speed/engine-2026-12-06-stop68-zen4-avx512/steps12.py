# steps12.py ROUNDS MODEL [args]: per step, minima over alternating profiles on one core (taskset -c 0) and two;
# prints steps and what a per-step choice (the faster of the two) would sum to. Labels each round by the vCPU round trip.
import json, subprocess, sys, collections, os
rounds, model, extra = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
B = os.environ.get("ISP", "/work/main/.build/release/isp")
def rt(): return int(subprocess.run(["/tmp/pp"], capture_output=True, text=True).stdout.strip().split("\n")[-1].split()[2])
best = {1: collections.OrderedDict(), 2: collections.OrderedDict()}; rts = []
for r in range(rounds):
    rts.append(rt())
    for cores, pre in ((1, ["taskset", "-c", "0"]), (2, [])):
        d = json.loads(subprocess.run(pre + [B, "bench", model, "--runs", "300", "--no-train", "--profile", "--json"] + extra, capture_output=True, text=True).stdout)
        seen = collections.Counter()
        for s in d["profile_ms"]:
            k = s["step"]; seen[k] += 1; k = f"{k}#{seen[k]}" if seen[k] > 1 else k
            best[cores][k] = min(best[cores].get(k, 1e9), s["ms"] * 1000)
    rts.append(rt())
print("round trips (ns):", rts)
one, two = best[1], best[2]
top = [k for k in two if "(add)" not in k and "." in k and not k.endswith(")")]
s1 = sum(one[k] for k in one); s2 = sum(two[k] for k in two); smin = sum(min(one[k], two[k]) for k in two)
for k in two:
    if one[k] < two[k]: print("%-32s one %7.1f two %7.1f" % (k, one[k], two[k]))
print("sum one core %.1f, two %.1f, per-step min %.1f us" % (s1, s2, smin))
