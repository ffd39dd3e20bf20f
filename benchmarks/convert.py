"""Convert between PyTorch and InstanceSparsity safetensors checkpoints.

  export-torch  torch state_dict .pt (or a freshly initialised model) -> safetensors
  to-torch      our safetensors -> torch state_dict .pt (strict load), prints a logits checksum
  checksum      only print the logits checksum of a safetensors checkpoint

Examples:
  python benchmarks/convert.py export-torch --arch resnet18 --width 0.5 -o r18.safetensors
  python benchmarks/convert.py export-torch --arch vgg16 --width 0.5 --state-dict vgg.pt -o vgg.safetensors
  python benchmarks/convert.py to-torch r18.safetensors -o r18.pt

Checksum input (reproducible without torch's RNG, e.g. from Swift): one image of shape
(1, C, S, S) in NCHW order, element k (flat index) =
    float(((k + 1) * 2654435761) mod 2**32) / 2**32 * 2 - 1      (float32)
The model runs in eval mode (BatchNorm uses running statistics, dropout off); the
input is fed as is (mean/std normalisation is NOT applied).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import ARCHS, build  # noqa: E402

# ----------------------------------------------------------------- metadata: the one place
META_ARCH = "architecture"
META_WIDTH = "width"
META_IN_CH = "input_channels"
META_SIZE = "input_size"
META_CLASSES = "classes"
META_MEAN = "mean"
META_STD = "std"
META_DATASET = "dataset"
METADATA_KEYS = (META_ARCH, META_WIDTH, META_IN_CH, META_SIZE, META_CLASSES,
                 META_MEAN, META_STD, META_DATASET)

# Normalisation has one source of truth: the statistics `isp train` computes from the training
# split and stores in every checkpoint (padded Fashion-MNIST: 0.2190 / 0.3318). This script has no
# defaults of its own: give --mean/--std/--dataset, or --like an isp checkpoint of the same data.


def make_metadata(arch: str, width: float, in_channels: int, classes: int, input_size: int,
                  mean: List[float], std: List[float], dataset: str) -> Dict[str, str]:
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError(f"mean/std need {in_channels} values, got {mean} / {std}")
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}")
    return {
        META_ARCH: arch,
        META_WIDTH: repr(float(width)),          # "0.5", "1.0"
        META_IN_CH: str(int(in_channels)),
        META_SIZE: str(int(input_size)),
        META_CLASSES: str(int(classes)),
        META_MEAN: json.dumps([float(x) for x in mean]),
        META_STD: json.dumps([float(x) for x in std]),
        META_DATASET: dataset,
    }


def parse_metadata(meta: Optional[Dict[str, str]]) -> Dict[str, object]:
    meta = meta or {}
    missing = [k for k in (META_ARCH, META_WIDTH, META_IN_CH, META_CLASSES) if k not in meta]
    if missing:
        raise ValueError(f"safetensors __metadata__ lacks {missing} (has {sorted(meta)})")
    return {
        "arch": meta[META_ARCH],
        "width": float(meta[META_WIDTH]),
        "in_channels": int(meta[META_IN_CH]),
        "input_size": int(meta.get(META_SIZE, "32")),
        "classes": int(meta[META_CLASSES]),
        "mean": json.loads(meta[META_MEAN]) if META_MEAN in meta else None,
        "std": json.loads(meta[META_STD]) if META_STD in meta else None,
        "dataset": meta.get(META_DATASET),
    }


# ----------------------------------------------------------------- loading / saving
def load_torch_state_dict(path: str) -> Dict[str, torch.Tensor]:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state_dict, got {type(obj).__name__}")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def save_safetensors(model: nn.Module, path: str, metadata: Dict[str, str],
                     keep_num_batches_tracked: bool = False) -> int:
    from safetensors.torch import save_file
    tensors = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            if keep_num_batches_tracked:
                tensors[k] = v.detach().to(torch.int64).reshape(()).contiguous()
            continue
        tensors[k] = v.detach().to(torch.float32).contiguous().clone()
    save_file(tensors, path, metadata=metadata)
    return len(tensors)


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    from safetensors import safe_open
    tensors = {}
    with safe_open(path, framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    return tensors, meta


def model_from_safetensors(path: str) -> Tuple[nn.Module, Dict[str, object]]:
    """Build the torch model described by a safetensors checkpoint and load it strictly."""
    tensors, meta = read_safetensors(path)
    info = parse_metadata(meta)
    model = build(info["arch"], info["width"], info["in_channels"], info["classes"])
    expected = model.state_dict()
    sd = {}
    for k, v in tensors.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = v.to(torch.int64).reshape(())
        else:
            sd[k] = v.to(torch.float32)
    for k, v in expected.items():
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros((), dtype=torch.int64)
    bad_shapes = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
                  for k, v in expected.items() if k in sd and sd[k].shape != v.shape]
    if bad_shapes:
        raise ValueError("shape mismatch:\n  " + "\n  ".join(bad_shapes))
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model, info


# ----------------------------------------------------------------- checksum
def checksum_input(in_channels: int, size: int) -> torch.Tensor:
    n = in_channels * size * size
    k = np.arange(1, n + 1, dtype=np.uint64)
    u = (k * np.uint64(2654435761)) % np.uint64(2 ** 32)
    x = (u.astype(np.float64) / 2.0 ** 32 * 2.0 - 1.0).astype(np.float32)
    return torch.from_numpy(x.reshape(1, in_channels, size, size))


def logits_checksum(model: nn.Module, in_channels: int, size: int) -> Dict[str, object]:
    model.eval()
    with torch.inference_mode():
        y = model(checksum_input(in_channels, size)).double().flatten()
    return {"sum": float(y.sum()), "abs_sum": float(y.abs().sum()),
            "weighted_sum": float((y * torch.arange(1, y.numel() + 1, dtype=torch.float64)).sum()),
            "argmax": int(y.argmax()), "logits": [float(v) for v in y]}


def print_checksum(c: Dict[str, object]) -> None:
    print(f"logits checksum: sum={c['sum']:.6e} abs_sum={c['abs_sum']:.6e} "
          f"weighted_sum={c['weighted_sum']:.6e} argmax={c['argmax']}")
    print("logits: " + " ".join(f"{v:.6g}" for v in c["logits"]))


# ----------------------------------------------------------------- commands
def randomize_bn(model: nn.Module) -> None:
    """Non-trivial BN affine/running statistics, so a fresh model's checksum exercises them."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0, 0.1)
                m.bias.uniform_(-0.1, 0.1)


def cmd_export_torch(a: argparse.Namespace) -> None:
    torch.manual_seed(a.seed)
    model = build(a.arch, a.width, a.in_channels, a.classes)
    if a.state_dict:
        sd = load_torch_state_dict(a.state_dict)
        for k, v in model.state_dict().items():   # tolerate missing num_batches_tracked
            if k.endswith("num_batches_tracked") and k not in sd:
                sd[k] = torch.zeros((), dtype=torch.int64)
        model.load_state_dict(sd, strict=True)
        src = a.state_dict
    else:
        src = f"fresh init (seed {a.seed})"
        if a.random_bn:
            randomize_bn(model)
            src += ", random BatchNorm statistics"
    like = parse_metadata(read_safetensors(a.like)[1]) if a.like else {}
    mean = json.loads(a.mean) if a.mean else like.get("mean")
    std = json.loads(a.std) if a.std else like.get("std")
    dataset = a.dataset or like.get("dataset")
    if mean is None or std is None or dataset is None:
        sys.exit("export-torch: give --mean, --std and --dataset (what the model was trained with), "
                 "or --like an isp checkpoint trained on the same data")
    meta = make_metadata(a.arch, a.width, a.in_channels, a.classes, a.input_size, mean, std, dataset)
    n = save_safetensors(model, a.output, meta, a.keep_num_batches_tracked)
    print(f"wrote {a.output}: {n} tensors from {src}")
    print("metadata: " + json.dumps(meta))
    print_checksum(logits_checksum(model, a.in_channels, a.input_size))


def cmd_to_torch(a: argparse.Namespace) -> None:
    model, info = model_from_safetensors(a.checkpoint)
    out = a.output or os.path.splitext(a.checkpoint)[0] + ".pt"
    torch.save(model.state_dict(), out)
    print(f"loaded {a.checkpoint} (strict): {info['arch']} width={info['width']} "
          f"in={info['in_channels']} classes={info['classes']} dataset={info['dataset']}")
    print(f"wrote {out}")
    c = logits_checksum(model, info["in_channels"], info["input_size"])
    print_checksum(c)
    if a.json:
        print(json.dumps({"checkpoint": a.checkpoint, "output": out, "metadata": info,
                          "checksum": c}))


def cmd_checksum(a: argparse.Namespace) -> None:
    model, info = model_from_safetensors(a.checkpoint)
    c = logits_checksum(model, info["in_channels"], info["input_size"])
    if a.json:
        print(json.dumps(c))
    else:
        print_checksum(c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("export-torch", help="torch state_dict (or fresh model) -> safetensors")
    e.add_argument("--arch", required=True, choices=ARCHS)
    e.add_argument("--width", type=float, default=1.0)
    e.add_argument("--in-channels", type=int, default=1)
    e.add_argument("--classes", type=int, default=10)
    e.add_argument("--input-size", type=int, default=32)
    e.add_argument("--state-dict", help="torch .pt state_dict; omit for a freshly initialised model")
    e.add_argument("--mean", help='JSON list the model was trained with, e.g. "[0.2190]" (padded Fashion-MNIST)')
    e.add_argument("--std", help='JSON list, e.g. "[0.3318]"')
    e.add_argument("--dataset", help="fashion-mnist, cifar10, ...")
    e.add_argument("--like", help="take mean, std and dataset from this isp checkpoint (trained on the same data)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--random-bn", action="store_true",
                   help="fresh model only: random BN statistics/affine and larger linear weights "
                        "(for forward-pass comparisons)")
    e.add_argument("--keep-num-batches-tracked", action="store_true",
                   help="also write the int64 num_batches_tracked scalars")
    e.add_argument("-o", "--output", required=True)
    e.set_defaults(func=cmd_export_torch)

    t = sub.add_parser("to-torch", help="safetensors -> torch state_dict .pt (strict)")
    t.add_argument("checkpoint")
    t.add_argument("-o", "--output", help="default: CHECKPOINT with .pt")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_to_torch)

    c = sub.add_parser("checksum", help="logits checksum of a safetensors checkpoint")
    c.add_argument("checkpoint")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_checksum)

    a = ap.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
