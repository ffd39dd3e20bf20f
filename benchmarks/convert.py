"""Convert between PyTorch and InstanceSparsity safetensors checkpoints.

  export-torch      torch state_dict .pt (or a freshly initialised model) -> safetensors
  from-torchvision  a torchvision resnet18 / mobilenet_v2 / vgg16_bn state_dict -> safetensors
                    (ImageNet stem, ImageNet mean/std, input size 224, classes from the weights)
  to-torch          our safetensors -> torch state_dict .pt (strict load into the matching model:
                    torchvision's own for the ImageNet stem where it can express the network;
                    slimmed checkpoints from `isp slim` at their recorded channel counts),
                    prints a logits checksum. A training checkpoint's optimizer state
                    (`_optimizer.*` tensors) is left out, as `isp export` leaves it out
  to-torchvision    the same, refusing anything torchvision's own model cannot load
  checksum          only print the logits checksum of a safetensors checkpoint

Examples:
  python benchmarks/convert.py export-torch --arch resnet18 --width 0.5 --like models/resnet18-fd.safetensors -o r18.safetensors
  python benchmarks/convert.py export-torch --arch vgg16 --width 0.5 --state-dict vgg.pt --like models/vgg16-fd.safetensors -o vgg.safetensors
  python benchmarks/convert.py to-torch r18.safetensors -o r18.pt
  python benchmarks/convert.py from-torchvision resnet18 resnet18-f37072fd.pth -o r18.safetensors --classes-file names.txt
  python benchmarks/convert.py to-torchvision r18.safetensors -o r18.pth

export-torch --like FILE takes from FILE (an isp checkpoint of the same data) the input channels,
input size and class count unless given, and every metadata entry that describes the data and how
images become inputs: mean, std, dataset and, for the same
dataset, class_names, preprocessing, preprocessing_summary, data_dir and train.skip_bad (which
folder images were left out as undecodable). Nothing else: not FILE's training options or
progress, test accuracy or stored operating point (prune.*), which describe FILE's weights.

A bad input file (missing, empty, truncated, not a safetensors / torch file, not a model that
fits) is reported in one line, `convert.py: FILE: problem`, with exit status 1.

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
import re
import signal
import sys
import tempfile
import unicodedata
from typing import Callable, Dict, List, Optional, Tuple

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
META_PREPROCESSING = "preprocessing"                  # how images become inputs (class folders)
META_PREPROCESSING_SUMMARY = "preprocessing_summary"  # the same in words, for the size and channels
META_DATA_DIR = "data_dir"                            # where isp train read the data (absolute)
META_SKIP_BAD = "train.skip_bad"                      # undecodable folder images were left out
# What `export-torch --like` copies: the entries that describe the data and its preprocessing
# (mean/std/dataset always; the rest only for the same dataset). Never training state
# (train.* options and progress, test_accuracy) or an operating point (prune.*): those describe
# the --like file's weights, not the ones being written.
LIKE_DATA_KEYS = (META_CLASS_NAMES, META_PREPROCESSING, META_PREPROCESSING_SUMMARY, META_DATA_DIR, META_SKIP_BAD)
# Training checkpoints store SGD state as extra tensors under this prefix (Checkpoint.optimizerPrefix);
# like `isp export` (Checkpoint.load), every tensor named so is training state, not a weight.
OPTIMIZER_PREFIX = "_optimizer."
METADATA_KEYS = (META_ARCH, META_WIDTH, META_STEM, META_IN_CH, META_SIZE, META_CLASSES,
                 META_MEAN, META_STD, META_DATASET)

# torchvision's ImageNet normalisation and input size.
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGENET_SIZE = 224

# Otherwise normalisation has one source of truth: the statistics `isp train` computes from the
# training split and stores in every checkpoint (padded Fashion-MNIST: 0.2190 / 0.3318). This
# script has no defaults of its own: give --mean/--std/--dataset, or --like an isp checkpoint.


class InputError(ValueError):
    """A file the user gave is missing, unreadable or not what it should be: main() reports it as
    `convert.py: PATH: problem` and exits 1, without a traceback."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


def first_line(e: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()  # without terminal colours
    return text[0] if text else type(e).__name__


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
        meta[META_PREPROCESSING] = preprocessing
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
    """The model a checkpoint's metadata describes; ValueError (naming the entry) if it does not
    describe one. The ranges are isp's (ModelSpec), so untrusted metadata cannot make us build
    a huge network."""
    meta = meta or {}
    missing = [k for k in (META_ARCH, META_WIDTH, META_IN_CH, META_CLASSES) if k not in meta]
    if missing:
        raise ValueError(f"safetensors __metadata__ lacks {missing} (has {sorted(meta)[:12]})")

    def number(key: str, kind, low, high, default: Optional[str] = None):
        text = meta.get(key, default)
        try:
            value = kind(text)
        except (TypeError, ValueError):
            value = None
        if value is None or not low <= value <= high:
            raise ValueError(f"metadata {key!r} has a bad value {text!r} (expected {low} to {high})")
        return value

    def floats(key: str, count: int) -> Optional[List[float]]:
        if key not in meta:
            return None
        try:
            values = json.loads(meta[key])
        except ValueError:
            values = None
        if (not isinstance(values, list) or len(values) != count
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise ValueError(f"metadata {key!r} should be a JSON list of {count} numbers, is {meta[key][:100]!r}")
        return [float(v) for v in values]

    arch = meta[META_ARCH]
    if arch not in ARCHS:
        raise ValueError(f"metadata 'architecture' has a bad value {arch!r} (expected one of {ARCHS})")
    stem = meta.get(META_STEM, "cifar")  # files from before the ImageNet variants are CIFAR ones
    if stem not in STEMS:
        raise ValueError(f"metadata 'stem' has a bad value {stem!r} (expected one of {STEMS})")
    width = number(META_WIDTH, float, 1e-6, 8.0)
    in_channels = number(META_IN_CH, int, 1, 64)
    return {
        "arch": arch,
        "width": width,
        "stem": stem,
        "in_channels": in_channels,
        "input_size": number(META_SIZE, int, 8, 1024, default="32"),
        "classes": number(META_CLASSES, int, 2, 100_000),
        "mean": floats(META_MEAN, in_channels),
        "std": floats(META_STD, in_channels),
        "dataset": meta.get(META_DATASET),
        "channels": parse_channels(meta.get(META_CHANNELS)),
    }


# ----------------------------------------------------------------- loading / saving
def input_file(path: str) -> None:
    """A file to read is there (one line naming it otherwise, not a library's traceback)."""
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, "is a directory, not a file")


def output_file(path: str, inputs: List[Optional[str]], force: bool) -> None:
    """A file to write can be (checked before any work): its directory exists, it is none of the
    files the command reads, and it does not exist yet unless --force."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(path, "is a directory (give the output file's name)")
    if not os.path.isdir(parent):
        raise InputError(path, f"cannot be written: no directory {parent}")
    if os.path.exists(path):
        if any(p and os.path.exists(p) and os.path.samefile(p, path) for p in inputs):
            raise InputError(path, "is also an input of this command: give another -o")
        if not force:
            raise InputError(path, "exists: give --force to replace it")


def write_atomically(path: str, write: Callable[[str], None]) -> None:
    """Calls write(temporary) on a file next to `path`, then renames it to `path`: a failed or
    interrupted write leaves whatever `path` held."""
    fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load_torch_state_dict(path: str) -> Dict[str, torch.Tensor]:
    input_file(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise InputError(path, e.strerror or first_line(e))
    except Exception as e:  # torch.load fails on a bad file in many ways (UnpicklingError, RuntimeError, EOFError, KeyError, ...)
        if "Weights only load failed" in str(e):  # a pickled object, such as a whole nn.Module: never unpickled here
            raise InputError(path, "holds pickled Python objects, not only tensors (a whole model saved with "
                                   "torch.save(model)?): save model.state_dict() and convert that")
        raise InputError(path, f"not a torch state_dict file ({type(e).__name__}: {first_line(e)})")
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise InputError(path, f"expected a state_dict (a dict of tensors), holds a {type(obj).__name__}")
    not_tensors = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise InputError(path, f"not a state_dict: entries that are not named tensors ({few(not_tensors)})")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def few(names: List[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


def describe(arch: str, width: float, stem: str, in_channels: int, classes: int,
             channels: Optional[Dict[str, int]] = None) -> str:
    return (f"{arch} width {width}{' slimmed' if channels else ''} ({stem} stem, {in_channels} input channels, "
            f"{classes} classes)")


def load_strictly(model: nn.Module, sd: Dict[str, torch.Tensor], path: str, what: str) -> None:
    """model.load_state_dict(sd, strict=True), with a missing num_batches_tracked taken as 0; a
    state_dict that does not fit is the file's problem (InputError, one line), not a traceback."""
    expected = model.state_dict()
    for k in expected:
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros((), dtype=torch.int64)
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in sd and sd[k].shape != v.shape]
    problems = ([f"missing tensors {few(missing)}"] if missing else []) + \
               ([f"unexpected tensors {few(unexpected)}"] if unexpected else []) + \
               ([f"shapes (file vs model) {few(shapes)}"] if shapes else [])
    if problems:
        raise InputError(path, f"does not fit {what}: " + "; ".join(problems))
    model.load_state_dict(sd, strict=True)


def save_safetensors(model: nn.Module, path: str, metadata: Dict[str, str],
                     keep_num_batches_tracked: bool = False) -> int:
    from safetensors import SafetensorError
    from safetensors.torch import save_file
    tensors = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            if keep_num_batches_tracked:
                tensors[k] = v.detach().to(torch.int64).reshape(()).contiguous()
            continue
        tensors[k] = v.detach().to(torch.float32).contiguous().clone()
    try:
        write_atomically(path, lambda temporary: save_file(tensors, temporary, metadata=metadata))
    except (OSError, SafetensorError) as e:
        raise InputError(path, f"cannot be written ({first_line(e)})")
    return len(tensors)


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """The tensors and metadata of a safetensors file; InputError if it is missing, empty,
    truncated or not safetensors."""
    from safetensors import SafetensorError, safe_open
    input_file(path)
    tensors = {}
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            for k in f.keys():
                tensors[k] = f.get_tensor(k)
    except OSError as e:
        raise InputError(path, e.strerror or first_line(e))
    except SafetensorError as e:  # "header too small" (empty), "incomplete metadata" (truncated), ...
        raise InputError(path, f"not a readable safetensors file ({first_line(e)})")
    return tensors, meta


def read_checkpoint_metadata(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str], Dict[str, object]]:
    """A safetensors file that describes a model: its tensors, raw metadata and parsed metadata."""
    tensors, meta = read_safetensors(path)
    try:
        info = parse_metadata(meta)
    except ValueError as e:
        raise InputError(path, f"not an isp model: {e}")
    return tensors, meta, info


def model_from_safetensors(path: str) -> Tuple[nn.Module, Dict[str, object]]:
    """Build the torch model described by a safetensors checkpoint (its variant: torchvision's own
    module for the ImageNet stem where torchvision can express it) and load it strictly."""
    tensors, _, info = read_checkpoint_metadata(path)
    try:
        model = build(info["arch"], info["width"], info["in_channels"], info["classes"], info["stem"], info["channels"])
    except ValueError as e:  # e.g. recorded channel counts that the network does not have
        raise InputError(path, f"describes no buildable network: {e}")
    sd = {}
    info["optimizer_tensors"] = 0
    for k, v in tensors.items():
        if k.startswith(OPTIMIZER_PREFIX):  # training state, not a weight (as isp export drops it)
            info["optimizer_tensors"] += 1
        elif k.endswith("num_batches_tracked"):
            sd[k] = v.to(torch.int64).reshape(())
        else:
            sd[k] = v.to(torch.float32)
    load_strictly(model, sd, path, describe(info["arch"], info["width"], info["stem"], info["in_channels"],
                                            info["classes"], info["channels"]))
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
    logits = c["logits"]
    shown = " ".join(f"{v:.6g}" for v in logits[:20])
    # An ImageNet model's 1000 logits would be one unreadable line: the first 20; `checksum --json` has all.
    print("logits: " + shown + (f" ... ({len(logits) - 20} more: checksum --json lists all)" if len(logits) > 20 else ""))


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


def like_data_metadata(path: str, raw: Dict[str, str], like: Dict[str, object], dataset: str,
                       classes: int, in_channels: int, input_size: int) -> Dict[str, str]:
    """The entries of LIKE_DATA_KEYS that `--like path` passes on to a model of `classes` classes
    taking `in_channels` x `input_size` x `input_size` inputs, trained on `dataset`: none if that
    is another dataset than the file's; an error where the file's entries cannot describe the model."""
    if dataset != like["dataset"]:
        return {}
    carried = {k: raw[k] for k in LIKE_DATA_KEYS if k in raw}
    if META_CLASS_NAMES in carried:
        try:
            names = json.loads(carried[META_CLASS_NAMES])
        except ValueError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError(path, f"metadata 'class_names' should be a JSON list of strings, is {carried[META_CLASS_NAMES][:100]!r}")
        if len(names) != classes:
            raise InputError(path, f"records {len(names)} class names ({few(names)}), but the model has "
                                   f"{classes} classes (--classes)")
    if META_PREPROCESSING in carried and (like["in_channels"], like["input_size"]) != (in_channels, input_size):
        raise InputError(path, f"its preprocessing ({carried[META_PREPROCESSING]}) makes {like['in_channels']} x "
                               f"{like['input_size']} x {like['input_size']} inputs, but the model takes {in_channels} x "
                               f"{input_size} x {input_size} (--in-channels, --input-size)")
    return carried


def cmd_export_torch(a: argparse.Namespace) -> None:
    torch.manual_seed(a.seed)
    output_file(a.output, [a.state_dict, a.like], a.force)
    like_raw: Dict[str, str] = {}
    like: Dict[str, object] = {}
    if a.like:  # read first: a bad --like fails before any other work
        _, like_raw, like = read_checkpoint_metadata(a.like)
    # Inputs and classes as the --like file's (the same data), unless given; else 1 x 32 x 32, 10.
    for key, default in (("in_channels", 1), ("input_size", 32), ("classes", 10)):
        if getattr(a, key) is None:
            setattr(a, key, like.get(key, default))
    a.stem = a.stem or standard_stem(a.input_size)
    model = build(a.arch, a.width, a.in_channels, a.classes, a.stem)
    if a.state_dict:
        sd = load_torch_state_dict(a.state_dict)
        load_strictly(model, sd, a.state_dict, describe(a.arch, a.width, a.stem, a.in_channels, a.classes)
                      + " as --arch, --width, --stem, --in-channels and --classes give it")
        src = a.state_dict
    else:
        src = f"fresh init (seed {a.seed})"
        if a.random_bn:
            randomize_bn(model)
            src += ", random BatchNorm statistics"

    def number_list(option: str, text: Optional[str]) -> Optional[List[float]]:
        """Comma-separated numbers, as `isp train --mean` takes them, or a JSON list."""
        if text is None:
            return None
        try:
            values = json.loads(text) if text.strip().startswith("[") else [float(v) for v in text.split(",")]
        except ValueError:
            values = None
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            sys.exit(f"export-torch: {option} should be comma-separated numbers, e.g. 0.485,0.456,0.406, not {text!r}")
        return values

    mean = number_list("--mean", a.mean) if a.mean else like.get("mean")
    std = number_list("--std", a.std) if a.std else like.get("std")
    dataset = a.dataset or like.get("dataset")
    if mean is None or std is None or dataset is None:
        sys.exit("export-torch: give --mean, --std and --dataset (what the model was trained with), "
                 "or --like an isp checkpoint trained on the same data")
    if a.like and not (a.mean and a.std) and like["in_channels"] != a.in_channels:
        raise InputError(a.like, f"records mean/std of {like['in_channels']} input channels, but the model takes "
                                 f"{a.in_channels} (--in-channels)")
    try:
        meta = make_metadata(a.arch, a.width, a.in_channels, a.classes, a.input_size, mean, std, dataset, a.stem)
    except ValueError as e:  # --mean/--std of another channel count
        sys.exit(f"export-torch: {e}")
    if a.like:
        meta.update(like_data_metadata(a.like, like_raw, like, dataset, a.classes, a.in_channels, a.input_size))
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
    output_file(a.output, [a.weights, a.classes_file], a.force)
    sd = load_torch_state_dict(a.weights)
    head = torchvision_classifier(arch) + ".weight"
    if head not in sd or sd[head].dim() != 2:
        raise InputError(a.weights, f"no 2-d '{head}': not a torchvision {a.arch} state_dict "
                                    f"(has {few(list(sd), 4)})")
    classes = int(sd[head].shape[0])
    if classes < 2:
        raise InputError(a.weights, f"'{head}' has {classes} classes (at least 2 needed)")
    model = build(arch, a.width, 3, classes, "imagenet")
    if not is_torchvision(model):
        raise SystemExit(f"torchvision has no {a.arch} of width {a.width}")
    load_strictly(model, sd, a.weights, f"torchvision's {a.arch} (width {a.width}, {classes} classes)")
    meta = make_metadata(arch, a.width, 3, classes, a.input_size, IMAGENET_MEAN, IMAGENET_STD,
                         a.dataset, stem="imagenet", preprocessing="resized-crop")
    if a.classes_file:
        input_file(a.classes_file)
        try:
            with open(a.classes_file, encoding="utf-8") as f:
                names = [line.rstrip("\n") for line in f if line.strip()]
        except OSError as e:
            raise InputError(a.classes_file, e.strerror or first_line(e))
        except UnicodeDecodeError as e:
            raise InputError(a.classes_file, f"not UTF-8 text ({e.reason} at byte {e.start})")
        if len(names) != classes:
            raise InputError(a.classes_file, f"{len(names)} class names, but the weights have {classes} classes")
        seen = {}
        for i, name in enumerate(names):
            # isp refuses such a file: two outputs of one name cannot be told apart. Names compare
            # as Swift's strings do, by canonical equivalence: an "é" composed and one decomposed
            # are the same name.
            key = unicodedata.normalize("NFC", name)
            if key in seen:
                raise InputError(a.classes_file, f"names class {seen[key]} and class {i} both '{name}'")
            seen[key] = i
        meta[META_CLASS_NAMES] = json.dumps(names)
    n = save_safetensors(model, a.output, meta)
    print(f"wrote {a.output}: {n} tensors from torchvision {a.arch} ({classes} classes, ImageNet stem, "
          f"input {a.input_size}x{a.input_size})")
    print_checksum(logits_checksum(model, 3, a.input_size))


def cmd_to_torch(a: argparse.Namespace) -> None:
    out = a.output or os.path.splitext(a.checkpoint)[0] + ".pt"
    output_file(out, [a.checkpoint], a.force)
    model, info = model_from_safetensors(a.checkpoint)
    if a.torchvision_only and not is_torchvision(model):
        raise InputError(a.checkpoint, f"{info['arch']} width {info['width']} with the {info['stem']} stem and "
                                       f"{info['in_channels']} input channels is not a network torchvision's own "
                                       "model can load (use to-torch)")
    try:
        write_atomically(out, lambda temporary: torch.save(model.state_dict(), temporary))
    except (OSError, RuntimeError) as e:
        raise InputError(out, f"cannot be written ({first_line(e)})")
    dropped = info.pop("optimizer_tensors")
    print(f"loaded {a.checkpoint} (strict) into {type(model).__module__}.{type(model).__name__}: "
          f"{info['arch']} width={info['width']}{' slimmed' if info['channels'] else ''} stem={info['stem']} "
          f"in={info['in_channels']} classes={info['classes']} dataset={info['dataset']}"
          + (f" (left out {dropped} optimizer-state tensors)" if dropped else ""))
    print(f"wrote {out}")
    c = logits_checksum(model, info["in_channels"], info["input_size"])
    print_checksum(c)
    if a.json:
        print(json.dumps({"checkpoint": a.checkpoint, "output": out, "metadata": info,
                          "optimizer_tensors_left_out": dropped, "checksum": c}))


def cmd_checksum(a: argparse.Namespace) -> None:
    model, info = model_from_safetensors(a.checkpoint)
    c = logits_checksum(model, info["in_channels"], info["input_size"])
    if a.json:
        print(json.dumps(c))
    else:
        print_checksum(c)


def main() -> None:
    # Output piped into `head` that stops reading ends the program quietly, as for other tools.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("export-torch", help="torch state_dict (or fresh model) -> safetensors")
    e.add_argument("--arch", required=True, choices=ARCHS)
    e.add_argument("--width", type=float, default=1.0)
    e.add_argument("--stem", choices=STEMS, help="default: imagenet above 64x64 inputs (torchvision's "
                   "own weights: use from-torchvision)")
    e.add_argument("--in-channels", type=int, help="default: the --like file's, else 1")
    e.add_argument("--classes", type=int, help="default: the --like file's, else 10")
    e.add_argument("--input-size", type=int, help="default: the --like file's, else 32")
    e.add_argument("--state-dict", help="torch .pt state_dict; omit for a freshly initialised model")
    e.add_argument("--mean", help="per-channel mean the model was trained with, comma-separated as isp train takes it, e.g. 0.2190 (padded Fashion-MNIST)")
    e.add_argument("--std", help="per-channel standard deviation, e.g. 0.3318")
    e.add_argument("--dataset", help="fashion-mnist, cifar10, ...")
    e.add_argument("--like", metavar="FILE",
                   help="an isp checkpoint trained on the same data: take from it what describes the data and "
                        "its preprocessing: mean, std and dataset (unless given) and, for its dataset, "
                        "class_names, preprocessing, preprocessing_summary, data_dir and train.skip_bad, so "
                        "isp predict/eval work on the output as on FILE; not its training options or "
                        "progress, test accuracy or stored operating point (prune.*), which describe FILE's "
                        "weights")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--random-bn", action="store_true",
                   help="fresh model only: random BN statistics/affine and larger linear weights "
                        "(for forward-pass comparisons)")
    e.add_argument("--keep-num-batches-tracked", action="store_true",
                   help="also write the int64 num_batches_tracked scalars")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--force", action="store_true", help="replace an existing OUTPUT (never an input)")
    e.set_defaults(func=cmd_export_torch)

    f = sub.add_parser("from-torchvision", help="torchvision state_dict -> safetensors (ImageNet stem)")
    f.add_argument("arch", choices=sorted(TORCHVISION_NAMES.values()))
    f.add_argument("weights", help="state_dict .pth, e.g. torchvision's resnet18-f37072fd.pth")
    f.add_argument("-o", "--output", required=True)
    f.add_argument("--force", action="store_true", help="replace an existing OUTPUT (never an input)")
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
        t.add_argument("--force", action="store_true", help="replace an existing OUTPUT (never the input)")
        t.add_argument("--json", action="store_true")
        t.set_defaults(func=cmd_to_torch, torchvision_only=only)

    c = sub.add_parser("checksum", help="logits checksum of a safetensors checkpoint")
    c.add_argument("checkpoint")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_checksum)

    a = ap.parse_args()
    try:
        a.func(a)
    except InputError as e:  # a bad file the user gave: one line, no traceback
        print(f"convert.py: {e.path}: {e.problem}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:  # a file operation failed on a named file; anything else stays a traceback
        if e.filename is None:
            raise
        print(f"convert.py: {e.filename}: {e.strerror or first_line(e)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
