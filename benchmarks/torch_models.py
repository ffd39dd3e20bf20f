"""Reference PyTorch definitions of the InstanceSparsity architectures.

The module hierarchy is laid out so that ``state_dict()`` names are exactly the
tensor names used by the Swift checkpoints (safetensors), e.g.
``features.0.weight`` / ``features.1.running_mean`` (VGG16),
``layer2.0.downsample.0.weight`` (ResNet-18),
``features.3.conv.1.0.weight`` (MobileNetV2).

Slimmed networks (``isp slim``) have their own channel count for some maps: ``channels`` maps
each map's name (as ``isp info`` lists the slimmable maps) to its count, e.g.
``{"features.3": 20}`` (VGG16: the output of the convolution before ``features.3``),
``{"layer1.0.conv2": 9}`` (ResNet-18: the map inside a block), ``{"features.2.conv.1.0": 40}``
(MobileNetV2: an expanded map). torchvision's own modules cannot express them, so these are
always the classes below.

Two variants (``stem``), as in the Swift models:
  imagenet  torchvision's ``resnet18``, ``mobilenet_v2`` and ``vgg16_bn``; ``build`` returns
            torchvision's own module wherever it can express the network (width 1 and 3 input
            channels; MobileNetV2 at any width), else the classes below with the same layout.
  cifar     32x32 inputs: 3x3 ResNet stem without max pool, MobileNetV2 stem and second stage at
            stride 1, VGG16 with global pooling and one linear classifier, no conv biases.

Usage as a script prints a summary:
    python benchmarks/torch_models.py --arch resnet18 --width 0.5
"""
from __future__ import annotations

import argparse
import json
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn

ARCHS = ("vgg16", "resnet18", "mobilenetv2")
STEMS = ("imagenet", "cifar")
# torchvision's names for our architectures (``from-torchvision`` in convert.py).
TORCHVISION_NAMES = {"resnet18": "resnet18", "mobilenetv2": "mobilenet_v2", "vgg16": "vgg16_bn"}


def standard_stem(input_size: int) -> str:
    """ModelSpec.Stem.standard: the ImageNet variants above 64x64 inputs."""
    return "imagenet" if input_size > 64 else "cifar"


# --------------------------------------------------------------------------- width scaling
def scale_channels(c: int, width: float) -> int:
    """VGG16 / ResNet-18 width scaling: round half *up* (not banker's rounding), min 8."""
    return max(8, int(c * width + 0.5))


def make_divisible(v: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """torchvision's ``_make_divisible`` (used by MobileNetV2)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # never round down by more than 10%
        new_v += divisor
    return new_v


# --------------------------------------------------------------------------- VGG16 (BN)
VGG16_CFG: List[Union[int, str]] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                    512, 512, 512, "M", 512, 512, 512, "M"]


def _slimmed(channels: Dict[str, int], name: str, standard: int) -> int:
    """The recorded count of map NAME (never more than the width gives it), else the width's."""
    count = channels.get(name, standard)
    if not 1 <= count <= standard:
        raise ValueError(f"map {name!r}: {count} channels, outside 1..{standard}")
    return count


def _check_names(channels: Dict[str, int], known: List[str]) -> None:
    unknown = sorted(set(channels) - set(known))
    if unknown:
        raise ValueError(f"not slimmable maps: {unknown} (those of this network: {known})")


class VGG16(nn.Module):
    def __init__(self, width: float = 1.0, in_channels: int = 3, classes: int = 10, stem: str = "cifar",
                 channels: Optional[Dict[str, int]] = None):
        super().__init__()
        channels = channels or {}
        imagenet = stem == "imagenet"
        # A map is named after the convolution it feeds: the index of the next convolution.
        conv_indices, position = [], 0
        for v in VGG16_CFG:
            if v != "M":
                conv_indices.append(position)
            position += 1 if v == "M" else 3
        maps = [f"features.{i}" for i in conv_indices[1:]]
        _check_names(channels, maps)
        self.slimmable_maps: Dict[str, int] = {}  # name -> the width's count
        layers: List[nn.Module] = []
        c_in = in_channels
        made = 0
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                c_out = scale_channels(int(v), width)
                if made < len(maps):
                    self.slimmable_maps[maps[made]] = c_out
                    c_out = _slimmed(channels, maps[made], c_out)
                made += 1
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=imagenet),
                           nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
                c_in = c_out
        self.features = nn.Sequential(*layers)
        if imagenet:  # torchvision's vgg16_bn head, the 4096 scaled with the width
            hidden = scale_channels(4096, width)
            self.avgpool = nn.AdaptiveAvgPool2d(7)
            self.classifier = nn.Sequential(
                nn.Linear(c_in * 49, hidden), nn.ReLU(True), nn.Dropout(0.5),
                nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(hidden, classes))
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(c_in, classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# --------------------------------------------------------------------------- ResNet-18
class BasicBlock(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, inner: Optional[int] = None):
        super().__init__()
        inner = inner or oup  # the map between conv1 and conv2 (slimmable)
        self.conv1 = nn.Conv2d(inp, inner, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(inner, oup, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(oup)
        self.downsample: Optional[nn.Module] = None
        if stride != 1 or inp != oup:
            self.downsample = nn.Sequential(
                nn.Conv2d(inp, oup, 1, stride=stride, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class ResNet18(nn.Module):
    def __init__(self, width: float = 1.0, in_channels: int = 3, classes: int = 10, stem: str = "cifar",
                 channels: Optional[Dict[str, int]] = None):
        super().__init__()
        channels = channels or {}
        _check_names(channels, [f"layer{i}.{b}.conv2" for i in range(1, 5) for b in range(2)])
        self.slimmable_maps: Dict[str, int] = {}  # name -> the width's count
        chans = [scale_channels(c, width) for c in (64, 128, 256, 512)]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, chans[0], 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, chans[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(chans[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if stem == "imagenet" else nn.Identity()
        inp = chans[0]
        for i, (c, s) in enumerate(zip(chans, (1, 2, 2, 2))):
            self.slimmable_maps.update({f"layer{i + 1}.{b}.conv2": c for b in range(2)})
            blocks = nn.Sequential(BasicBlock(inp, c, s, _slimmed(channels, f"layer{i + 1}.0.conv2", c)),
                                   BasicBlock(c, c, 1, _slimmed(channels, f"layer{i + 1}.1.conv2", c)))
            setattr(self, f"layer{i + 1}", blocks)
            inp = c
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inp, classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc(torch.flatten(x, 1))


# --------------------------------------------------------------------------- MobileNetV2
def _conv_bn_relu6(inp: int, oup: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, k, stride=stride, padding=(k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, hidden: Optional[int] = None):
        super().__init__()
        hidden = hidden or int(round(inp * expand_ratio))  # the expanded map (slimmable)
        self.use_res_connect = stride == 1 and inp == oup
        layers: List[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(inp, hidden, 1))
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# (t, c, n, s) of the ImageNet variant; the CIFAR one runs the stem and stage 2 at stride 1.
MOBILENETV2_CFG = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                   [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]


class MobileNetV2(nn.Module):
    def __init__(self, width: float = 1.0, in_channels: int = 3, classes: int = 10,
                 dropout: float = 0.2, stem: str = "cifar", channels: Optional[Dict[str, int]] = None):
        super().__init__()
        channels = channels or {}
        maps = []
        self.slimmable_maps: Dict[str, int] = {}  # name -> the width's count
        early = 2 if stem == "imagenet" else 1
        inp = make_divisible(32 * width, 8)
        self.last_channel = make_divisible(1280 * max(1.0, width), 8)
        feats: List[nn.Module] = [_conv_bn_relu6(in_channels, inp, 3, stride=early)]
        for stage, (t, c, n, s) in enumerate(MOBILENETV2_CFG):
            s = early if stage == 1 else s
            oup = make_divisible(c * width, 8)
            for i in range(n):
                hidden = inp * t
                if t != 1:
                    maps.append(f"features.{len(feats)}.conv.1.0")
                    self.slimmable_maps[maps[-1]] = hidden
                    hidden = _slimmed(channels, maps[-1], hidden)
                feats.append(InvertedResidual(inp, oup, s if i == 0 else 1, t, hidden))
                inp = oup
        _check_names(channels, maps)
        feats.append(_conv_bn_relu6(inp, self.last_channel, 1))
        self.features = nn.Sequential(*feats)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channel, classes))
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# --------------------------------------------------------------------------- helpers
def _init_weights(model: nn.Module) -> None:
    """torchvision-style initialisation (kaiming fan_out convs, unit BN, small linear)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def torchvision_model(arch: str, width: float, in_channels: int, classes: int) -> Optional[nn.Module]:
    """torchvision's own ImageNet model for this network, or None where it cannot express it."""
    import torchvision
    if in_channels != 3:
        return None
    if arch == "mobilenetv2":
        return torchvision.models.mobilenet_v2(width_mult=width, num_classes=classes)
    if width != 1.0:
        return None
    return getattr(torchvision.models, TORCHVISION_NAMES[arch])(num_classes=classes)


def build(arch: str, width: float = 1.0, in_channels: int = 3, classes: int = 10,
          stem: str = "cifar", channels: Optional[Dict[str, int]] = None) -> nn.Module:
    """``channels``: per-map counts of a slimmed network (see the module docstring)."""
    arch = arch.lower()
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; expected one of {STEMS}")
    if stem == "imagenet" and not channels:
        tv = torchvision_model(arch, width, in_channels, classes)
        if tv is not None:
            return tv
    if arch == "vgg16":
        return VGG16(width, in_channels, classes, stem, channels)
    if arch == "resnet18":
        return ResNet18(width, in_channels, classes, stem, channels)
    if arch == "mobilenetv2":
        return MobileNetV2(width, in_channels, classes, stem=stem, channels=channels)
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHS}")


def slimmable_maps(arch: str, width: float = 1.0, stem: str = "cifar") -> Dict[str, int]:
    """The maps `isp slim` can slim, in network order, with the width's channel counts."""
    cls = {"vgg16": VGG16, "resnet18": ResNet18, "mobilenetv2": MobileNetV2}[arch]
    return cls(width, 3, 10, stem=stem).slimmable_maps


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, in_channels: int, input_size: int = 32) -> Dict[str, int]:
    """Multiply-accumulates of one image through conv and linear layers (hook-based)."""
    totals = {"conv": 0, "linear": 0}

    def conv_hook(m: nn.Conv2d, _inp, out):
        kh, kw = m.kernel_size
        per_out = (m.in_channels // m.groups) * kh * kw
        totals["conv"] += out[0].numel() * per_out  # out[0]: first image of the batch

    def linear_hook(m: nn.Linear, _inp, out):
        totals["linear"] += m.in_features * m.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(torch.zeros(1, in_channels, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    totals["total"] = totals["conv"] + totals["linear"]
    return totals


def summary(arch: str, width: float, in_channels: int = 1, classes: int = 10,
            input_size: int = 32, stem: Optional[str] = None) -> Dict[str, object]:
    stem = stem or standard_stem(input_size)
    model = build(arch, width, in_channels, classes, stem)
    macs = count_macs(model, in_channels, input_size)
    sd = model.state_dict()
    return {
        "arch": arch, "width": width, "stem": stem, "module": type(model).__module__ + "." + type(model).__name__,
        "input_channels": in_channels, "classes": classes,
        "input_size": input_size,
        "params": count_params(model),
        "macs": macs["total"], "macs_conv": macs["conv"], "macs_linear": macs["linear"],
        "state_dict_tensors": len(sd),
        "float_tensors": sum(1 for v in sd.values() if v.is_floating_point()),
    }


def add_model_arguments(ap: argparse.ArgumentParser) -> None:
    """The options that name a network for `build`: --arch (required), --width, --in-channels,
    --classes, --input-size and --stem."""
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--in-channels", type=int, default=1)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--input-size", type=int, default=32)
    ap.add_argument("--stem", choices=STEMS, help="default: imagenet above 64x64 inputs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(ap)
    ap.add_argument("--names", action="store_true", help="also list state_dict names and shapes")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    s = summary(a.arch, a.width, a.in_channels, a.classes, a.input_size, a.stem)
    if a.json:
        print(json.dumps(s, indent=2))
    else:
        print(f"{a.arch} width={a.width} stem={s['stem']} ({s['module']}) in={a.in_channels} "
              f"classes={a.classes} input={a.input_size}x{a.input_size}")
        print(f"  params : {s['params']:,}")
        print(f"  MACs   : {s['macs']:,} ({s['macs'] / 1e6:.2f} M; conv {s['macs_conv']:,}, "
              f"linear {s['macs_linear']:,})")
        print(f"  state_dict tensors: {s['state_dict_tensors']} ({s['float_tensors']} float)")
    if a.names:
        for k, v in build(a.arch, a.width, a.in_channels, a.classes, s["stem"]).state_dict().items():
            print(f"  {k:45s} {str(v.dtype):14s} {tuple(v.shape)}")


if __name__ == "__main__":
    main()
