# f0.py A B ROUNDS [args], from the repository: VGG16 w0.5's first convolution plus the gate on its map
# (isp bench --profile, two cores), A and B alternating; prints each binary's times sorted (us)
import json, subprocess, sys, collections
bins = sys.argv[1:3]; rounds = int(sys.argv[3]); extra = sys.argv[4:]
vals = collections.defaultdict(list)
for r in range(rounds):
    for b in bins:
        d = json.loads(subprocess.run([b, "bench", "models/vgg16-fd.safetensors", "--runs", "300", "--no-train", "--profile", "--json"] + extra,
                                      capture_output=True, text=True).stdout)
        p = {s["step"]: s["ms"] * 1000 for s in d["profile_ms"]}
        vals[b].append(round(p["features.0"] + p["saliency of features.3"], 1))
for b in bins: print(b, sorted(vals[b]))
