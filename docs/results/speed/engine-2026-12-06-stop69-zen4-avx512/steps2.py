# steps2.py A B ROUNDS CORES MODEL [args]: per-step minima of two binaries, alternating; prints all steps of each
import json, subprocess, sys, collections
a_bin, b_bin, rounds, cores, model = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
extra = sys.argv[6:]
best = [collections.OrderedDict(), collections.OrderedDict()]; med = [[], []]
for r in range(rounds):
    for i, b in enumerate((a_bin, b_bin)):
        d = json.loads(subprocess.run(["taskset", "-c", cores, b, "bench", model, "--runs", "300", "--no-train", "--profile", "--json"] + extra,
                                      capture_output=True, text=True).stdout)
        med[i].append(round(d["latency_ms_median"], 3))
        for s in d["profile_ms"]:
            best[i][s["step"]] = min(best[i].get(s["step"], 1e9), s["ms"] * 1000)
print("medians", med)
print("sums %.1f %.1f" % (sum(best[0].values()), sum(best[1].values())))
ka, kb = list(best[0]), list(best[1])
for i in range(max(len(ka), len(kb))):
    l = "%-26s %7.1f" % (ka[i], best[0][ka[i]]) if i < len(ka) else " " * 34
    r = "%-26s %7.1f" % (kb[i], best[1][kb[i]]) if i < len(kb) else ""
    print(l, " | ", r)
