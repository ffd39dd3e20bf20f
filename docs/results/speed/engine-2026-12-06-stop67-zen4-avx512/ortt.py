import onnxruntime as ort, numpy as np, time, sys
path, runs = sys.argv[1], int(sys.argv[2])
o = ort.SessionOptions(); o.intra_op_num_threads = 2
s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
i = s.get_inputs()[0]; x = np.random.default_rng(0).standard_normal([1] + list(i.shape[1:])).astype(np.float32)
for _ in range(30): y = s.run(None, {i.name: x})[0]
t = []
for _ in range(runs):
    a = time.perf_counter(); s.run(None, {i.name: x}); t.append(time.perf_counter() - a)
print("%.3f ms  sum %.6f" % (np.median(t) * 1000, float(np.abs(y).sum())))
