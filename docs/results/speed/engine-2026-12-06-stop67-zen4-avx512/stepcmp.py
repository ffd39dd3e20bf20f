# stepcmp.py BIN_A BIN_B ROUNDS CORES MODEL [bench args]: per-step minima of isp bench --profile, A and B alternating
import json, subprocess, sys, collections
a_bin, b_bin, rounds, cores, model = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
extra = sys.argv[6:]
best = [collections.OrderedDict(), collections.OrderedDict()]; med = [[], []]
for r in range(rounds):
    for i, b in enumerate((a_bin, b_bin)):
        d = json.loads(subprocess.run(["taskset", "-c", cores, b, "bench", model, "--runs", "200", "--no-train", "--profile", "--json"] + extra,
                                      capture_output=True, text=True).stdout)
        med[i].append(round(d["latency_ms_median"], 3))
        seen = collections.Counter()
        for s in d["profile_ms"]:
            k = s["step"]; seen[k] += 1; k = f"{k}#{seen[k]}" if seen[k] > 1 else k
            best[i][k] = min(best[i].get(k, 1e9), s["ms"] * 1000)
a, b = best
print("medians", med[0], med[1]); print("sum of step minima %.1f %.1f ratio %.3f" % (sum(a.values()), sum(b.values()), sum(b.values()) / sum(a.values())))
for k in sorted(a, key=lambda k: abs(b[k] - a[k]), reverse=True)[:14]:
    print("%-36s %8.1f %8.1f %+7.1f %.3f" % (k, a[k], b[k], b[k] - a[k], b[k] / max(a[k], 1e-9)))
