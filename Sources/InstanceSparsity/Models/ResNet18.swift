/// ResNet-18: a stem, four stages of two basic blocks (64, 128, 256, 512 channels, strides 1, 2,
/// 2, 2), global average pooling and `fc`. The ImageNet stem is torchvision's `resnet18`: a 7x7
/// stride-2 convolution and a 3x3 stride-2 max pool (a 224x224 image reaches the blocks at 56x56);
/// the CIFAR stem is one 3x3 convolution at full resolution. Names follow torchvision. Gates are
/// labelled by the convolution their map feeds: "layer1.0.conv2" inside a block, "layer2.0.conv1"
/// on the output of the block before it, "layer1.0.conv1" on the stem's (they hold no parameters,
/// so no tensor name changes).
enum ResNet18 {
    static func make(_ spec: ModelSpec, rng: inout SeededGenerator) -> Sequential {
        let stem = scaled(64, spec.width)
        let imagenet = spec.stem == .imagenet
        var layers: [(String, Layer)] = [
            ("conv1", Conv2d(inChannels: spec.inputChannels, outChannels: stem, kernel: imagenet ? 7 : 3,
                             stride: imagenet ? 2 : 1, padding: imagenet ? 3 : 1, rng: &rng)),
            ("bn1", BatchNorm2d(channels: stem)), ("relu", ReLU()),
        ]
        if imagenet { layers.append(("maxpool", MaxPool2d(kernel: 3, stride: 2, padding: 1))) }
        var channels = stem
        for (stage, (base, stride)) in [(64, 1), (128, 2), (256, 2), (512, 2)].enumerated() {
            let out = scaled(base, spec.width)
            var blocks: [(String, Layer)] = []
            for b in 0..<2 {
                let s = b == 0 ? stride : 1, name = "layer\(stage + 1).\(b)"
                // The previous block's output (the stem's, for the first block) feeds this block's
                // conv1 and its shortcut (downsample or identity): a dropped channel is zero for both.
                // Ungated, the stem's output kept the first block's conv1 dense, 6.8% of the CIFAR
                // network's MACs (9.44M of 138.7M at width 0.5).
                blocks.append(("gate\(b)", ChannelGate(label: "\(name).conv1")))
                let inner = spec.channels(of: "\(name).conv2", standard: out)
                blocks.append(("\(b)", basicBlock(channels, out, inner: inner, stride: s, name: name, rng: &rng)))
                channels = out
            }
            layers.append(("layer\(stage + 1)", Sequential(blocks)))
        }
        layers.append(("avgpool", GlobalAvgPool()))
        layers.append(("fc", Linear(inFeatures: channels, outFeatures: spec.classes, rng: &rng)))
        return Sequential(layers)
    }

    /// conv3x3-BN-ReLU-[gate]-conv3x3-BN, plus the shortcut, then ReLU. The gate sits on the map
    /// between the two convolutions (`inner` channels: outC unless slimmed), the one map of the
    /// block whose channels can be removed for good.
    static func basicBlock(_ inC: Int, _ outC: Int, inner: Int, stride: Int, name: String, rng: inout SeededGenerator) -> Residual {
        let layout = MapLayout(convolution: "\(name).conv1", norm: "\(name).bn1", reader: "\(name).conv2", channels: inner)
        let branch = Sequential([
            ("conv1", Conv2d(inChannels: inC, outChannels: inner, kernel: 3, stride: stride, padding: 1, rng: &rng)),
            ("bn1", BatchNorm2d(channels: inner)), ("relu", ReLU()),
            ("gate", ChannelGate(label: "\(name).conv2", layout: layout)),
            ("conv2", Conv2d(inChannels: inner, outChannels: outC, kernel: 3, padding: 1, rng: &rng)),
            ("bn2", BatchNorm2d(channels: outC)),
        ])
        var shortcut: Sequential?
        if stride != 1 || inC != outC {
            shortcut = Sequential([Conv2d(inChannels: inC, outChannels: outC, kernel: 1, stride: stride, rng: &rng),
                                   BatchNorm2d(channels: outC)])
        }
        return Residual(branch: branch, shortcut: shortcut, activation: ReLU())
    }
}
