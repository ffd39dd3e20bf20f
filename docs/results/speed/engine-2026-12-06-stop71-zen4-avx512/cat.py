import sys, re, collections
def load(f):
    d = {}
    for line in open(f):
        m = re.match(r'^(\S.*?)\s+(\d+\.\d{4})\s+\S+%', line)
        if m: d[m.group(1).strip()] = float(m.group(2))
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
def kind(k):
    if k.startswith('saliency'): return 'saliency'
    if '(add)' in k: return 'add'
    if k.endswith('conv.0.0'): return 'expand'
    if k.endswith('conv.1.0') or k == 'features.1.conv.0.0': return 'depthwise'
    if k.endswith('conv.2') or k == 'features.1.conv.1': return 'project'
    return k
s = collections.defaultdict(lambda: [0, 0])
for k in a:
    if '(add)' in k: continue
    s[kind(k)][0] += a[k]; s[kind(k)][1] += b.get(k, 0)
for k, (x, y) in sorted(s.items(), key=lambda t: -t[1][0]): print("%-20s %7.3f %7.3f  %.2fx" % (k, x, y, x / y if y else 0))
print("total", sum(v[0] for v in s.values()), sum(v[1] for v in s.values()))
