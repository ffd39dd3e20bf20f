# eff.py BIN ROUNDS MODEL: per step, pruned time over its ideal (dense time x executed MAC share), minima of alternating profiles
import json, subprocess, sys, collections
b, rounds, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
best = {"dense": {}, "pruned": {}}; macs = {"dense": {}, "pruned": {}}
for r in range(rounds):
    for mode, extra in (("dense", []), ("pruned", ["--prune", "stored"])):
        d = json.loads(subprocess.run([b, "bench", model, "--runs", "400", "--no-train", "--profile", "--json"] + extra, capture_output=True, text=True).stdout)
        for s in d["profile_ms"]:
            k = s["step"]; best[mode][k] = min(best[mode].get(k, 1e9), s["ms"] * 1000); macs[mode][k] = s["macs"]
tot_p = tot_i = 0
for k in best["pruned"]:
    p = best["pruned"][k]; dn = best["dense"].get(k); md = macs["dense"].get(k, 0); mp = macs["pruned"][k]
    ideal = dn * (mp / md) if dn and md else p
    tot_p += p; tot_i += ideal
    if p > 2: print("%-28s dense %7.1f pruned %7.1f ideal %7.1f  over %+6.1f  kept %.2f" % (k, dn or 0, p, ideal, p - ideal, mp / md if md else 1))
print("sum pruned %.1f ideal %.1f (dense %.1f)" % (tot_p, tot_i, sum(best["dense"].values())))
