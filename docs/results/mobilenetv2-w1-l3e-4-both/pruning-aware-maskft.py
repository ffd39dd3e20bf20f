"""Pruning-aware fine-tuning probe (stop 40): the shipped MobileNetV2 w1.0 fine-tuned with its
expanded maps at blocks 6-17 masked per image (max policy, ALPHA), feature decay LAMBDA on the
expanded maps of blocks 2-17, SGD (momentum 0.9, Nesterov, wd 5e-4), cosine from LR over IMAGES
training images (from the first 55000, pad-4 crop + flip), batch 128. Held-out: the last 5000
training images, evaluated under the same masks (BN in eval mode), before and after. One crop
offset and one flip per batch (a probe, not isp's per-image augmentation).

    /work/venv/bin/python pruning-aware-maskft.py models/mobilenetv2-fd.safetensors 0.2 3e-4 0.005 25600"""
import gzip, os, sys, time, math
import numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../benchmarks'))
from convert import model_from_safetensors
torch.set_num_threads(int(os.environ.get('THREADS', '1')))
torch.manual_seed(1)
path, alpha, lam, lr0, images = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
model, info = model_from_safetensors(path)
def load(name, off, shape):
    with gzip.open(f'/usr/share/datasets/fashion-mnist/{name}') as f:
        return np.frombuffer(f.read(), np.uint8, offset=off).reshape(shape)
X = load('train-images-idx3-ubyte.gz', 16, (-1, 1, 28, 28)); Y = load('train-labels-idx1-ubyte.gz', 8, (-1,)).astype(np.int64)
mean, std = float(info['mean'][0]), float(info['std'][0])
def prep(x):
    x = np.pad(x.astype(np.float32) / 255, ((0,0),(0,0),(2,2),(2,2)))
    return torch.from_numpy((x - mean) / std)
held_x, held_y = prep(X[-5000:]), torch.from_numpy(Y[-5000:])
train_x, train_y = prep(X[:55000]), torch.from_numpy(Y[:55000])
penalty = []
def hook(n):
    def f(m, i, o):
        s = o.pow(2).mean((2, 3)).add(1e-12).sqrt()
        if n >= 6:
            keep = (s >= alpha * s.max(1, keepdim=True).values).detach()
            o = o * keep[:, :, None, None].to(o.dtype)
            s = s * keep
        if lam > 0 and torch.is_grad_enabled(): penalty.append(s.sum(1).mean())
        return o
    return f
for n in range(2, 18): model.features[n].conv[0].register_forward_hook(hook(n))
def evaluate():
    model.eval(); correct = 0
    with torch.no_grad():
        for b in range(0, 5000, 500):
            correct += (model(held_x[b:b+500]).argmax(1) == held_y[b:b+500]).sum().item()
    return correct / 5000
print(f"alpha {alpha}: held-out before {evaluate():.4f}", flush=True)
decay, no_decay = [], []
for name, p in model.named_parameters(): (no_decay if p.ndim == 1 else decay).append(p)
opt = torch.optim.SGD([{'params': decay, 'weight_decay': 5e-4}, {'params': no_decay, 'weight_decay': 0}], lr=lr0, momentum=0.9, nesterov=True)
steps = images // 128; g = torch.Generator().manual_seed(1); order = torch.randperm(55000, generator=g)
t0 = time.time()
for step in range(steps):
    lr = lr0 * 0.5 * (1 + math.cos(math.pi * step / steps))
    for grp in opt.param_groups: grp['lr'] = lr
    idx = order[(step * 128) % 55000:][:128]
    x = train_x[idx]; y = train_y[idx]
    x = F.pad(x, (4, 4, 4, 4)); i, j = np.random.randint(0, 9, 2); x = x[:, :, i:i+32, j:j+32]
    if np.random.rand() < 0.5: x = x.flip(3)
    model.train(); penalty.clear()
    loss = F.cross_entropy(model(x), y) + lam * sum(penalty)
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 20 == 0: print(f"step {step}/{steps} loss {loss.item():.4f} lr {lr:.5f} {(step+1)*128/(time.time()-t0):.0f} img/s", flush=True)
    if step and step % 100 == 0: print(f"step {step}: held-out {evaluate():.4f}", flush=True)
print(f"alpha {alpha}: held-out after {evaluate():.4f}", flush=True)
torch.save(model.state_dict(), f'maskft-{alpha}.pt')
