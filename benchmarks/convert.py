"""Convert between PyTorch and InstanceSparsity safetensors checkpoints.

  export-torch      torch state_dict .pt (or a freshly initialised model) -> safetensors
  from-torchvision  a torchvision resnet18 / mobilenet_v2 / vgg16_bn state_dict -> safetensors
                    (ImageNet stem, ImageNet mean/std, input size 224, classes from the weights)
  to-torch          our safetensors -> torch state_dict .pt (strict load into the matching model:
                    torchvision's own for the ImageNet stem where it can express the network;
                    slimmed checkpoints from `isp slim` at their recorded channel counts),
                    prints a logits checksum
  to-torchvision    the same, refusing anything torchvision's own model cannot load
  checksum          only print the logits checksum of a safetensors checkpoint

Examples:
  python benchmarks/convert.py export-torch --arch resnet18 --width 0.5 --like models/resnet18-fd.safetensors -o r18.safetensors
  python benchmarks/convert.py export-torch --arch vgg16 --width 0.5 --state-dict vgg.pt --like models/vgg16-fd.safetensors -o vgg.safetensors
  python benchmarks/convert.py to-torch r18.safetensors -o r18.pt
  python benchmarks/convert.py from-torchvision resnet18 resnet18-f37072fd.pth -o r18.safetensors --classes-file names.txt
  python benchmarks/convert.py to-torchvision r18.safetensors -o r18.pth

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
from torch_models import ARCHS, STEMS, TORCHVISION_NAMES, build, standard_stem  # noqa: E402

# ----------------------------------------------------------------- metadata: the one place
META_ARCH = "architecture"
META_WIDTH = "width"
META_IN_CH = "input_channels"
META_SIZE = "input_size"
META_CLASSES = "classes"
META_MEAN = "mean"
META_STD = "std"
META_DATASET = "dataset"
META_STEM = "stem"
META_CLASS_NAMES = "class_names"
META_CHANNELS = "channels"  # slimmed maps (isp slim): "name=count,..." in network order
METADATA_KEYS = (META_ARCH, META_WIDTH, META_STEM, META_IN_CH, META_SIZE, META_CLASSES,
                 META_MEAN, META_STD, META_DATASET)

# torchvision's ImageNet normalisation and input size.
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGENET_SIZE = 224

# Otherwise normalisation has one source of truth: the statistics `isp train` computes from the
# training split and stores in every checkpoint (padded Fashion-MNIST: 0.2190 / 0.3318). This
# script has no defaults of its own: give --mean/--std/--dataset, or --like an isp checkpoint.


def make_metadata(arch: str, width: float, in_channels: int, classes: int, input_size: int,
                  mean: List[float], std: List[float], dataset: str, stem: str,
                  preprocessing: Optional[str] = None, channels: Optional[Dict[str, int]] = None) -> Dict[str, str]:
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError(f"mean/std need {in_channels} values, got {mean} / {std}")
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}")
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}")
    meta = {
        META_ARCH: arch,
        META_WIDTH: repr(float(width)),          # "0.5", "1.0"
        META_STEM: stem,
        META_IN_CH: str(int(in_channels)),
        META_SIZE: str(int(input_size)),
        META_CLASSES: str(int(classes)),
        META_MEAN: json.dumps([float(x) for x in mean]),
        META_STD: json.dumps([float(x) for x in std]),
        META_DATASET: dataset,
    }
    if preprocessing is not None:  # how isp prepares images for this model (torchvision's recipe)
        meta["preprocessing"] = preprocessing
    if channels:  # in the order given (network order, as isp writes it)
        meta[META_CHANNELS] = ",".join(f"{name}={int(count)}" for name, count in channels.items())
    return meta


def parse_channels(text: Optional[str]) -> Dict[str, int]:
    """The per-map channel counts of a slimmed checkpoint ({} for an unslimmed one)."""
    channels: Dict[str, int] = {}
    for entry in (text.split(",") if text else []):
        name, _, count = entry.partition("=")
        if not name or not count.isdigit() or name in channels:
            raise ValueError(f"metadata 'channels' should be distinct NAME=COUNT pairs, has {entry!r}")
        channels[name] = int(count)
    return channels


def parse_metadata(meta: Optional[Dict[str, str]]) -> Dict[str, object]:
    meta = meta or {}
    missing = [k for k in (META_ARCH, META_WIDTH, META_IN_CH, META_CLASSES) if k not in meta]
    if missing:
        raise ValueError(f"safetensors __metadata__ lacks {missing} (has {sorted(meta)})")
    stem = meta.get(META_STEM, "cifar")  # files from before the ImageNet variants are CIFAR ones
    if stem not in STEMS:
        raise ValueError(f"metadata 'stem' has a bad value {stem!r} (expected one of {STEMS})")
    return {
        "arch": meta[META_ARCH],
        "width": float(meta[META_WIDTH]),
        "stem": stem,
        "in_channels": int(meta[META_IN_CH]),
        "input_size": int(meta.get(META_SIZE, "32")),
        "classes": int(meta[META_CLASSES]),
        "mean": json.loads(meta[META_MEAN]) if META_MEAN in meta else None,
        "std": json.loads(meta[META_STD]) if META_STD in meta else None,
        "dataset": meta.get(META_DATASET),
        "channels": parse_channels(meta.get(META_CHANNELS)),
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
    """Build the torch model described by a safetensors checkpoint (its variant: torchvision's own
    module for the ImageNet stem where torchvision can express it) and load it strictly."""
    tensors, meta = read_safetensors(path)
    info = parse_metadata(meta)
    model = build(info["arch"], info["width"], info["in_channels"], info["classes"], info["stem"], info["channels"])
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
    a.stem = a.stem or standard_stem(a.input_size)
    model = build(a.arch, a.width, a.in_channels, a.classes, a.stem)
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
    meta = make_metadata(a.arch, a.width, a.in_channels, a.classes, a.input_size, mean, std, dataset, a.stem)
    n = save_safetensors(model, a.output, meta, a.keep_num_batches_tracked)
    print(f"wrote {a.output}: {n} tensors from {src} ({a.stem} stem)")
    print("metadata: " + json.dumps(meta))
    print_checksum(logits_checksum(model, a.in_channels, a.input_size))


def is_torchvision(model: nn.Module) -> bool:
    return type(model).__module__.startswith("torchvision.")


def torchvision_classifier(arch: str) -> str:
    """The state_dict prefix of the last linear layer of torchvision's model."""
    return {"resnet18": "fc", "mobilenetv2": "classifier.1", "vgg16": "classifier.6"}[arch]


def cmd_from_torchvision(a: argparse.Namespace) -> None:
    arch = {v: k for k, v in TORCHVISION_NAMES.items()}[a.arch]
    sd = load_torch_state_dict(a.weights)
    head = torchvision_classifier(arch) + ".weight"
    if head not in sd:
        raise SystemExit(f"{a.weights}: no '{head}': not a torchvision {a.arch} state_dict "
                         f"(has {', '.join(list(sd)[:4])}, ...)")
    classes = int(sd[head].shape[0])
    model = build(arch, a.width, 3, classes, "imagenet")
    if not is_torchvision(model):
        raise SystemExit(f"torchvision has no {a.arch} of width {a.width}")
    for k in model.state_dict():  # tolerate missing num_batches_tracked
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros((), dtype=torch.int64)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise SystemExit(f"{a.weights}: does not load strictly into torchvision's {a.arch} "
                         f"(width {a.width}, {classes} classes): {e}")
    meta = make_metadata(arch, a.width, 3, classes, a.input_size, IMAGENET_MEAN, IMAGENET_STD,
                         a.dataset, stem="imagenet", preprocessing="resized-crop")
    if a.classes_file:
        with open(a.classes_file, encoding="utf-8") as f:
            names = [line.rstrip("\n") for line in f if line.strip()]
        if len(names) != classes:
            raise SystemExit(f"{a.classes_file}: {len(names)} class names, but the weights have {classes} classes")
        meta[META_CLASS_NAMES] = json.dumps(names)
    n = save_safetensors(model, a.output, meta)
    print(f"wrote {a.output}: {n} tensors from torchvision {a.arch} ({classes} classes, ImageNet stem, "
          f"input {a.input_size}x{a.input_size})")
    print_checksum(logits_checksum(model, 3, a.input_size))


def cmd_to_torch(a: argparse.Namespace) -> None:
    model, info = model_from_safetensors(a.checkpoint)
    if a.torchvision_only and not is_torchvision(model):
        raise SystemExit(f"{a.checkpoint}: {info['arch']} width {info['width']} with the {info['stem']} stem and "
                         f"{info['in_channels']} input channels is not a network torchvision's own model can load "
                         "(use to-torch)")
    out = a.output or os.path.splitext(a.checkpoint)[0] + ".pt"
    torch.save(model.state_dict(), out)
    print(f"loaded {a.checkpoint} (strict) into {type(model).__module__}.{type(model).__name__}: "
          f"{info['arch']} width={info['width']}{' slimmed' if info['channels'] else ''} stem={info['stem']} "
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
    e.add_argument("--stem", choices=STEMS, help="default: imagenet above 64x64 inputs (torchvision's "
                   "own weights: use from-torchvision)")
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

    f = sub.add_parser("from-torchvision", help="torchvision state_dict -> safetensors (ImageNet stem)")
    f.add_argument("arch", choices=sorted(TORCHVISION_NAMES.values()))
    f.add_argument("weights", help="state_dict .pth, e.g. torchvision's resnet18-f37072fd.pth")
    f.add_argument("-o", "--output", required=True)
    f.add_argument("--classes-file", help="class names, one a line (as many as the weights have classes)")
    f.add_argument("--width", type=float, default=1.0, help="mobilenet_v2's width_mult (default 1)")
    f.add_argument("--input-size", type=int, default=IMAGENET_SIZE)
    f.add_argument("--dataset", default="imagenet")
    f.set_defaults(func=cmd_from_torchvision)

    for name, only in (("to-torch", False), ("to-torchvision", True)):
        t = sub.add_parser(name, help="safetensors -> torch state_dict .pt (strict)"
                           + (", torchvision's own model only" if only else ""))
        t.add_argument("checkpoint")
        t.add_argument("-o", "--output", help="default: CHECKPOINT with .pt")
        t.add_argument("--json", action="store_true")
        t.set_defaults(func=cmd_to_torch, torchvision_only=only)

    c = sub.add_parser("checksum", help="logits checksum of a safetensors checkpoint")
    c.add_argument("checkpoint")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_checksum)

    a = ap.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
