import json, sys, statistics as st, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
g = collections.defaultdict(list)
for r in rows: g[(r['bin'].split('/')[-1], r['isa'], 'close' if r['rt'] < 200 else 'far')].append(r)
for k in sorted(g):
    v = g[k]
    print("%-10s %-6s %-5s n=%2d of_ideal median %.3f (%.3f-%.3f) speedup %.2f dense %.3f pruned %.3f acc %s" % (k + (len(v),
          st.median(x['of_ideal'] for x in v), min(x['of_ideal'] for x in v), max(x['of_ideal'] for x in v),
          st.median(x['speedup'] for x in v), st.median(x['dense'] for x in v), st.median(x['pruned'] for x in v), sorted(set(x['acc'] for x in v)))))
