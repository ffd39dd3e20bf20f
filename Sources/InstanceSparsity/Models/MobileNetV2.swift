/// MobileNetV2: a 3x3 stem, inverted residual blocks, a 1x1 convolution to 1280 channels, global
/// average pooling, dropout and a linear classifier. The ImageNet variant is torchvision's
/// `mobilenet_v2` (stride-2 stem and second stage: 224x224 ends at 7x7); the CIFAR variant runs
/// both at stride 1 (32x32 ends at 4x4). The weights' names and shapes are the same in both, which
/// is why a checkpoint records its stem. Names follow torchvision (`features.<i>.conv.<j>`).
enum MobileNetV2 {
    /// (expansion t, channels c, repeats n, first stride s) of the ImageNet variant.
    static let settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    /// torchvision's `_make_divisible(v, 8)`.
    static func divisible(_ v: Float) -> Int {
        var n = max(8, Int(v + 4) / 8 * 8)
        if Float(n) < 0.9 * v { n += 8 }
        return n
    }

    static func convBN(_ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1, groups: Int = 1,
                       rng: inout SeededGenerator) -> Sequential {
        Sequential([Conv2d(inChannels: inC, outChannels: outC, kernel: kernel, stride: stride,
                           padding: kernel / 2, groups: groups, rng: &rng),
                    BatchNorm2d(channels: outC), ReLU(cap: 6)])
    }

    static func make(_ spec: ModelSpec, rng: inout SeededGenerator) -> Sequential {
        // The CIFAR variant keeps full resolution where the ImageNet one halves it first: the
        // stem and the second stage.
        let early = spec.stem == .imagenet ? 2 : 1
        var channels = divisible(32 * spec.width)
        var features: [Layer] = [convBN(spec.inputChannels, channels, kernel: 3, stride: early, rng: &rng)]
        for (stage, (t, c, n, stride)) in settings.enumerated() {
            let s = stage == 1 ? early : stride
            let out = divisible(Float(c) * spec.width)
            for i in 0..<n {
                let index = features.count
                let name = "features.\(index)"
                let hidden = t == 1 ? channels : spec.channels(of: "\(name).conv.1.0", standard: channels * t)
                features.append(invertedResidual(channels, out, hidden: hidden, stride: i == 0 ? s : 1, expansion: t,
                                                 name: name, rng: &rng))
                channels = out
            }
        }
        let last = divisible(1280 * max(1, spec.width))
        features.append(convBN(channels, last, kernel: 1, rng: &rng))
        let classifier = Sequential([Dropout(p: 0.2, seed: rng.next()),
                                     Linear(inFeatures: last, outFeatures: spec.classes, rng: &rng)])
        return Sequential([("features", Sequential(features)), ("avgpool", GlobalAvgPool()),
                           ("classifier", classifier)])
    }

    /// [gate -> 1x1 expand-BN-ReLU6 -> gate] -> 3x3 depthwise-BN-ReLU6 -> 1x1 project-BN (+ x when
    /// shapes allow). Two gates: on the expanded map (`hidden` channels: inC * expansion unless
    /// slimmed), which feeds the depthwise convolution (its dropped channels also skip their
    /// share of the projection), and on the block's input as the expansion reads it, so that the
    /// expansion, half of a block's MACs, can skip input channels too. The input gate sits inside
    /// the branch: the identity still adds every channel, so its map is tied to the other blocks'
    /// (no layout: not slimmable). Each gate is named after the convolution it feeds.
    static func invertedResidual(_ inC: Int, _ outC: Int, hidden: Int, stride: Int, expansion: Int, name: String,
                                 rng: inout SeededGenerator) -> Layer {
        var parts: [(String, Layer)] = []
        if expansion != 1 {
            let b = "\(name).conv"
            let layout = MapLayout(convolution: "\(b).0.0", norm: "\(b).0.1", carriers: ["\(b).1.0", "\(b).1.1"],
                                   reader: "\(b).2", readerNorm: "\(b).3", channels: hidden)
            parts.append(("input_gate", ChannelGate(label: "\(b).0.0")))
            parts.append(("0", convBN(inC, hidden, kernel: 1, rng: &rng)))
            parts.append(("gate", ChannelGate(label: "\(b).1.0", layout: layout)))
        }
        parts.append(("\(expansion != 1 ? 1 : 0)",
                      convBN(hidden, hidden, kernel: 3, stride: stride, groups: hidden, rng: &rng)))
        let next = expansion != 1 ? 2 : 1
        parts.append(("\(next)", Conv2d(inChannels: hidden, outChannels: outC, kernel: 1, rng: &rng)))
        parts.append(("\(next + 1)", BatchNorm2d(channels: outC)))
        let branch = Sequential(parts)
        return stride == 1 && inC == outC ? Residual(branch: branch, branchName: "conv")
                                          : Sequential([("conv", branch)])
    }
}
