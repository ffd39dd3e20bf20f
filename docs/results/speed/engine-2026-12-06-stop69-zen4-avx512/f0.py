import json, subprocess, sys, collections
bins = sys.argv[1:3]; rounds = int(sys.argv[3]); extra = sys.argv[4:]
vals = collections.defaultdict(list)
for r in range(rounds):
    for b in bins:
        d = json.loads(subprocess.run([b, "bench", "/work/main/models/vgg16-fd.safetensors", "--runs", "300", "--no-train", "--profile", "--json"] + extra,
                                      capture_output=True, text=True).stdout)
        p = {s["step"]: s["ms"] * 1000 for s in d["profile_ms"]}
        vals[b].append(round(p["features.0"] + p["saliency of features.3"], 1))
for b in bins: print(b, sorted(vals[b]))
