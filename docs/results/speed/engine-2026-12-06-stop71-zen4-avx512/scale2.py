# scale2.py ROUNDS MODEL CONFIG... : each CONFIG ('dense', or extra `isp bench` arguments in one string, where
# NAME=VALUE words set the environment) runs round by round in turn, on one core (taskset -c 0) and on two; per
# step and config the minimum over rounds of each round's step median, and lost = two-core - one-core / 2 (us).
# The binary: $ISP, else .build/release/isp (run from the repository).
import json, os, subprocess, sys
rounds, model = int(sys.argv[1]), sys.argv[2]
configs = sys.argv[3:]
isp = os.environ.get("ISP", ".build/release/isp")
best = {}; order = []
for r in range(rounds):
    for c in configs:
        toks = [] if c == "dense" else c.split()
        env = dict(os.environ); env.update(t.split("=", 1) for t in toks if "=" in t and not t.startswith("-"))
        extra = [t for t in toks if not ("=" in t and not t.startswith("-"))]
        for cores in (1, 2):
            cmd = ([] if cores == 2 else ["taskset", "-c", "0"]) + [isp, "bench", model, "--runs", "400", "--no-train", "--profile", "--json", "--always-split"] + extra
            d = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env).stdout)
            for s in d["profile_ms"]:
                k = s["step"]
                if k not in order: order.append(k)
                key = (c, cores, k); best[key] = min(best.get(key, 1e9), s["ms"] * 1000)
print("%-26s" % "step" + "".join("%26s" % c[:24] for c in configs))
tot = {c: [0, 0] for c in configs}
for k in order:
    row = "%-26s" % k[:26]
    for c in configs:
        a, b = best.get((c, 1, k)), best.get((c, 2, k))
        if a is None: row += "%26s" % "-"; continue
        tot[c][0] += a; tot[c][1] += b
        row += "%10.1f %6.1f %+7.1f " % (a, b, b - a / 2)
    print(row)
print("%-26s" % "sum one/two" + "".join("%14.1f %8.1f   " % (tot[c][0], tot[c][1]) for c in configs))
