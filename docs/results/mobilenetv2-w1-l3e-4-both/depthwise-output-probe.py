"""How many projection MACs would a gate on the depthwise output (the map feeding conv.2) save on
top of the stored point's expanded-map gates (max ALPHA at blocks 6-17, exact zeros at 2-5)?
On the last N training images (the held-out tuning split), with PyTorch (stop 39):

    /work/venv/bin/python depthwise-output-probe.py models/mobilenetv2-fd.safetensors 1000 0.05 BETA

BETA: a depthwise output channel counts as droppable below BETA x the image's largest saliency
(RMS) in that map; the stored point's expanded channels are dropped below ALPHA x the largest.
"""
import gzip, os, sys
import numpy as np, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../benchmarks'))
from convert import model_from_safetensors
torch.set_num_threads(1)
path = sys.argv[1]; N = int(sys.argv[2]); alpha = float(sys.argv[3]); beta = float(sys.argv[4])
model, info = model_from_safetensors(path)
print({k: info[k] for k in info if k in ('mean', 'std', 'arch', 'width')})
with gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[-N:].astype(np.float32) / 255
x = np.pad(x, ((0,0),(0,0),(2,2),(2,2)))
mean, std = float(info['mean'][0]), float(info['std'][0])
x = torch.from_numpy((x - mean) / std)
E, D = {}, {}
hooks = []
for n in range(2, 18):
    blk = model.features[n].conv
    hooks.append(blk[0].register_forward_hook(lambda m, i, o, n=n: E.__setitem__(n, o.detach())))
    hooks.append(blk[1].register_forward_hook(lambda m, i, o, n=n: D.__setitem__(n, o.detach())))
with torch.no_grad(): model(x)
total = 87.39e6
stored = range(6, 18)
saved_now = np.zeros(N); extra_zero = np.zeros(N); extra_beta = np.zeros(N)
for n in range(2, 18):
    e, d = E[n], D[n]
    cout = model.features[n].conv[2].out_channels
    hw = d.shape[2] * d.shape[3]
    sE = e.pow(2).mean((2, 3)).sqrt()            # RMS saliency per image, channel
    sD = d.pow(2).mean((2, 3)).sqrt()
    if n in stored:
        keepE = sE >= alpha * sE.max(1, keepdim=True).values
    else:
        keepE = sE > 0                             # exact zeros are skipped anyway
    dropE = ~keepE
    saved_now += (dropE.float().sum(1) * (9 + cout) * hw).numpy()
    zeroD = keepE & (sD == 0)
    extra_zero += (zeroD.float().sum(1) * cout * hw).numpy()
    lowD = keepE & (sD < beta * sD.max(1, keepdim=True).values)
    extra_beta += (lowD.float().sum(1) * cout * hw).numpy()
print(f"expanded-map gates (max {alpha} at 6-17, exact zeros at 2-5): {saved_now.mean()/total:.1%}")
print(f"+ depthwise outputs exactly zero among kept: {extra_zero.mean()/total:.1%}")
print(f"+ depthwise outputs below {beta} x max among kept: {extra_beta.mean()/total:.1%}")
